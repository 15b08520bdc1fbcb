"""What a resubmitted manifest item needs: a pure decision from what the database holds for it.

An item is (batch, item name). Its version is its key (`ManifestItem.key`): a changed
prompt or input makes a new key, a new job, and the old job is canceled. A job that
Scenario accepted is never paid for again before Scenario is asked how it ended.
"""

from __future__ import annotations

from enum import StrEnum

from worker.states import JobStatus

# An item row claimed for a job that was never recorded (its submitter died in between)
# is finished by the next submit once the claim is this old; younger, it is in flight.
CLAIM_INTERRUPTED_AFTER_S = 60.0


class ItemAction(StrEnum):
    """What a submit does with one manifest item."""

    QUEUE = "queue"  # new item: claim it and queue its job
    DONE = "done"  # the current version succeeded
    IN_FLIGHT = "in_flight"  # the current version is queued or running
    REQUEUE = "requeue"  # the current version failed, was canceled or dead without a Scenario job
    ASK_SCENARIO = "ask_scenario"  # dead, but Scenario accepted it: its result may be there
    SUPERSEDE = "supersede"  # the item changed: queue the new version, cancel the old one
    FINISH_CLAIM = "finish_claim"  # the item was claimed for a job never recorded: record and queue it


def plan_item(
    *,
    claimed: bool,
    same_version: bool,
    status: JobStatus | None,
    has_scenario_job: bool,
    claim_age_s: float = 0.0,
) -> ItemAction:
    """The action for one item.

    `claimed`: the item has a row; `status`: its job's status, None when that job's row
    does not exist (yet); `same_version`: the row's key is the manifest's key now.
    """
    if not claimed:
        return ItemAction.QUEUE
    if status is None:
        if claim_age_s < CLAIM_INTERRUPTED_AFTER_S:
            return ItemAction.IN_FLIGHT
        return ItemAction.FINISH_CLAIM if same_version else ItemAction.SUPERSEDE
    if not same_version:
        return ItemAction.SUPERSEDE
    if status is JobStatus.SUCCESS:
        return ItemAction.DONE
    if not status.is_final:
        return ItemAction.IN_FLIGHT
    if status is JobStatus.DEAD and has_scenario_job:
        return ItemAction.ASK_SCENARIO
    return ItemAction.REQUEUE
