"""Dead letters from code: list them, look at one, replay them, purge old ones."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from worker import lost_answers, runtime
from worker.db.jobs import AdoptOutcome
from worker.db.models import DeadLetterReason
from worker.db.views import DeadLetterView, JobView
from worker.generation import GenerationRequest
from worker.producer import enqueue_request
from worker.scenario.errors import NotFound, ScenarioError
from worker.states import JobStatus

log = logging.getLogger("worker.deadletters")

# A replay claims its letter for a new job id, then records and queues that job.
# A claim older than this whose job never appeared was cut short (a crash in
# between), and the next replay finishes it with the same id.
REPLAY_INTERRUPTED_AFTER_S = 60.0
# Letters one `replay_matching` call takes on; run it again for the rest.
MATCHING_LIMIT = 10_000


class DeadLetterNotFound(LookupError):
    """No dead letter has this id."""


@dataclass(frozen=True)
class DeadLetterDetail:
    """A letter with the job it gave up on and, once replayed, the job that replays it."""

    letter: DeadLetterView
    job: JobView | None
    replayed_job: JobView | None


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did: the new job's id, or why the letter was left alone.

    In a dry run both are None for a letter that would be replayed.
    """

    dead_letter_id: int
    new_job_id: str | None
    skipped_reason: str | None
    dry_run: bool = False
    # The letter's own job, when its Scenario job had finished with success and that result was taken.
    took_result_job_id: str | None = None


class Settlement(StrEnum):
    """What the Scenario job a given-up row already has says about paying for it again."""

    TOOK_RESULT = "took_result"  # it ended in success: the row has its result now
    SUBMIT_AGAIN = "submit_again"  # none, or it failed, was canceled or is unknown to Scenario
    STILL_RUNNING = "still_running"  # it may yet succeed: paying again would pay twice
    UNKNOWN = "unknown"  # Scenario could not be asked: decide later, pay nothing now


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay enqueues: the original generation and the batch item it stands for."""

    request: GenerationRequest
    batch_id: str | None = None
    item_key: str | None = None
    item_name: str | None = None
    tags: tuple[str, ...] = ()


def list_dead_letters(
    *,
    since: datetime | None = None,
    code: str | None = None,
    http_status: int | None = None,
    reason: str | None = None,
    replayed: bool | None = None,
    limit: int = 100,
) -> list[DeadLetterView]:
    """Newest first; each filter given narrows the list."""
    if since is not None:
        _require_aware("since", since)
    if reason is not None and reason not in DeadLetterReason._value2member_map_:
        raise ValueError(f"reason: {reason!r} is not one of {', '.join(r.value for r in DeadLetterReason)}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit: must be a whole number of at least 1, got {limit!r}")
    return runtime.current().dead_letters.list(
        since=since, code=code, http_status=http_status, reason=reason, replayed=replayed, limit=limit
    )


def show_dead_letter(dead_letter_id: int) -> DeadLetterDetail:
    """The letter, its job as stored now, and the job that replays it if any."""
    rt = runtime.current()
    letter = _get(dead_letter_id)
    replayed_job = rt.jobs.get(letter.replayed_job_id) if letter.replayed_job_id else None
    return DeadLetterDetail(letter=letter, job=rt.jobs.get(letter.job_id), replayed_job=replayed_job)


def replay(dead_letter_id: int, *, dry_run: bool = False) -> ReplayResult:
    """Enqueue the letter's generation again as a new job and link it; a replayed letter is skipped."""
    return _replay(_get(dead_letter_id), dry_run=dry_run)


def replay_matching(*, code: str | None = None, all: bool = False, dry_run: bool = False) -> list[ReplayResult]:
    """Replay every letter not yet replayed that has this error code, or every one with `all`; oldest first."""
    if (code is None) == (not all):
        raise ValueError("give either code or all=True, not both and not neither")
    letters = runtime.current().dead_letters.list(code=code, replayed=False, limit=MATCHING_LIMIT)
    return [_replay(letter, dry_run=dry_run) for letter in reversed(letters)]


def purge(before: datetime, *, dry_run: bool = False) -> int:
    """Delete the letters written before `before` (or, dry, count them); returns how many."""
    _require_aware("before", before)
    letters = runtime.current().dead_letters
    return letters.count_before(before) if dry_run else letters.purge(before)


def replay_request(payload: Mapping[str, Any]) -> ReplayPlan:
    """What a letter's payload asks to enqueue again; ValueError naming the field when it cannot be rebuilt."""
    params = payload.get("params")
    if not isinstance(params, Mapping):
        raise ValueError("params: the payload holds no generation parameters")
    for name in ("batch_id", "item_key", "item_name"):
        if payload.get(name) is not None and not isinstance(payload.get(name), str):
            raise ValueError(f"{name}: must be a string, got {payload.get(name)!r}")
    tags = payload.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ValueError(f"tags: must be a list of strings, got {tags!r}")
    return ReplayPlan(
        request=GenerationRequest.from_params(params),
        batch_id=payload.get("batch_id"),
        item_key=payload.get("item_key"),
        item_name=payload.get("item_name"),
        tags=tuple(tags),
    )


def _enqueue(dead_letter_id: int, plan: ReplayPlan, job_id: str) -> None:
    """Record and queue the job the letter was claimed for; if that fails, free the letter again."""
    try:
        enqueue_request(
            plan.request,
            batch_id=plan.batch_id,
            item_key=plan.item_key,
            item_name=plan.item_name,
            tags=plan.tags,
            job_id=job_id,
        )
    except Exception:
        _release(dead_letter_id, job_id)
        raise


def settle_from_scenario(job: JobView) -> Settlement:
    """Ask Scenario about the job a given-up row already has; take its result if it succeeded.

    A row Scenario accepted is never submitted again blindly: only a job that is not
    there, failed or was canceled may be paid for again.
    """
    from worker.tasks.downloads import request_downloads

    rt = runtime.current()
    if job.scenario_job_id is None and job.unanswered_submit_at is not None:
        job, settled = _found_after_a_lost_answer(job)
        if settled is not None:
            return settled
    if job.scenario_job_id is None:
        return Settlement.SUBMIT_AGAIN
    try:
        snapshot = rt.client.get_job(job.scenario_job_id)
    except NotFound:
        return Settlement.SUBMIT_AGAIN
    except ScenarioError as exc:
        log.warning("could not ask Scenario about job_id=%s scenario_job_id=%s: %s", job.id, job.scenario_job_id, exc)
        return Settlement.UNKNOWN
    status = JobStatus.from_scenario(str(snapshot.get("status")))
    if status is JobStatus.SUCCESS:
        if rt.jobs.take_result(job.id, snapshot):
            log.info("took the finished result job_id=%s scenario_job_id=%s", job.id, job.scenario_job_id)
            request_downloads(job.batch_id)
        return Settlement.TOOK_RESULT
    if status in (JobStatus.FAILURE, JobStatus.CANCELED):
        return Settlement.SUBMIT_AGAIN
    return Settlement.STILL_RUNNING


def _found_after_a_lost_answer(job: JobView) -> tuple[JobView, Settlement | None]:
    """A dead row whose last submit's answer was lost: the Scenario job it may have made, adopted.

    Returns the row (with that job when one was found) and, when nothing can be decided yet or
    nothing was found, what that means for paying again.
    """
    rt = runtime.current()
    if lost_answers.may_still_appear(job):
        return job, Settlement.UNKNOWN  # its request may still be making the job
    try:
        for candidate in lost_answers.candidates(job):
            if rt.jobs.adopt(job.id, candidate) is not AdoptOutcome.TAKEN:
                log.info("a dead job's lost answer found job_id=%s scenario_job_id=%s", job.id, candidate["jobId"])
                return rt.jobs.get(job.id) or job, None
    except ScenarioError as exc:
        log.warning("could not look for a dead job's lost answer job_id=%s: %s", job.id, exc)
        return job, Settlement.UNKNOWN
    return job, Settlement.SUBMIT_AGAIN


def _replay(letter: DeadLetterView, *, dry_run: bool) -> ReplayResult:
    if letter.replayed_job_id is not None:
        return _replay_claimed(letter, dry_run=dry_run)
    try:
        plan = replay_request(letter.payload)
    except ValueError as exc:
        return ReplayResult(letter.id, None, f"its payload cannot be replayed: {exc}", dry_run)
    if dry_run:
        return ReplayResult(letter.id, None, None, dry_run=True)
    unpaid = _settled_without_paying(letter)
    if unpaid is not None:
        return unpaid
    new_job_id = uuid.uuid4().hex
    # Claim first, then make the job: a crash in between leaves the letter
    # pointing at a job id that was never recorded (visible, and finished by
    # the next replay), never a second job nobody links to the letter.
    if not runtime.current().dead_letters.mark_replayed(letter.id, new_job_id):
        return _replay_claimed(_get(letter.id), dry_run=dry_run)  # another replay got there first
    _claim_item(plan, letter.job_id, new_job_id)
    _enqueue(letter.id, plan, new_job_id)
    log.info("replayed dead_letter_id=%s job_id=%s new_job_id=%s", letter.id, letter.job_id, new_job_id)
    return ReplayResult(letter.id, new_job_id, None)


def _settled_without_paying(letter: DeadLetterView) -> ReplayResult | None:
    """The replay's answer when the letter's own Scenario job settles it; None when a new submit is fine."""
    rt = runtime.current()
    job = rt.jobs.get(letter.job_id)
    if job is None or (job.scenario_job_id is None and job.unanswered_submit_at is None):
        return None
    settlement = settle_from_scenario(job)
    job = rt.jobs.get(letter.job_id) or job  # a lost answer found has given it its Scenario job
    if settlement is Settlement.SUBMIT_AGAIN:
        return None
    if settlement is Settlement.TOOK_RESULT:
        rt.dead_letters.mark_replayed(letter.id, job.id)
        reason = f"its Scenario job {job.scenario_job_id} finished with success: its result was taken, nothing paid"
        return ReplayResult(letter.id, None, reason, took_result_job_id=job.id)
    if settlement is Settlement.STILL_RUNNING:
        reason = f"its Scenario job {job.scenario_job_id} has not finished; it is not paid for again"
    elif job.scenario_job_id is None:
        reason = "its last submit's answer was lost and Scenario may still make or list that job; try again later"
    else:
        reason = f"Scenario could not be asked about its job {job.scenario_job_id}; try again later"
    return ReplayResult(letter.id, None, reason)


def _claim_item(plan: ReplayPlan, old_job_id: str, new_job_id: str) -> None:
    """A replayed batch item: its item row moves from the dead job to the new one (if it still points there)."""
    if plan.batch_id is None or plan.item_name is None or plan.item_key is None:
        return
    batches = runtime.current().batches
    item = batches.items(plan.batch_id).get(plan.item_name)
    if item is not None and item.job_id == new_job_id:
        return  # an interrupted replay that got this far already
    replacing = None if item is None else old_job_id
    if not batches.claim_item(plan.batch_id, plan.item_name, plan.item_key, new_job_id, replacing=replacing):
        log.warning("replayed job_id=%s is not the current job of item %s any more", new_job_id, plan.item_name)


def _replay_claimed(letter: DeadLetterView, *, dry_run: bool) -> ReplayResult:
    """A letter already claimed by a replay: skipped, unless that replay was cut short before its job existed."""
    assert letter.replayed_job_id is not None and letter.replayed_at is not None
    new_job_id = letter.replayed_job_id
    job = runtime.current().jobs.get(new_job_id)
    if job is not None:
        reason = f"already replayed as job {new_job_id} at {_when(letter.replayed_at)} (that job is {job.status.value})"
        return ReplayResult(letter.id, None, reason, dry_run)
    age_s = (datetime.now(timezone.utc) - letter.replayed_at).total_seconds()
    if age_s < REPLAY_INTERRUPTED_AFTER_S:
        reason = f"a replay as job {new_job_id} began {age_s:.0f} s ago and has not recorded its job yet"
        return ReplayResult(letter.id, None, reason, dry_run)
    try:
        plan = replay_request(letter.payload)
    except ValueError as exc:
        return ReplayResult(letter.id, None, f"its payload cannot be replayed: {exc}", dry_run)
    if dry_run:
        return ReplayResult(letter.id, None, None, dry_run=True)
    _claim_item(plan, letter.job_id, new_job_id)
    _enqueue(letter.id, plan, new_job_id)
    log.warning("finished an interrupted replay dead_letter_id=%s new_job_id=%s", letter.id, new_job_id)
    return ReplayResult(letter.id, new_job_id, None)


def _release(dead_letter_id: int, new_job_id: str) -> None:
    # The job could not be queued: free the letter so that a later replay can try again.
    try:
        runtime.current().dead_letters.unmark_replayed(dead_letter_id, new_job_id)
    except Exception:  # the database may be what failed; the claim then ages into an interrupted replay
        log.exception("could not release the replay claim dead_letter_id=%s new_job_id=%s", dead_letter_id, new_job_id)


def _get(dead_letter_id: int) -> DeadLetterView:
    if isinstance(dead_letter_id, bool) or not isinstance(dead_letter_id, int):
        raise ValueError(f"dead_letter_id: must be a whole number, got {dead_letter_id!r}")
    letter = runtime.current().dead_letters.get(dead_letter_id)
    if letter is None:
        raise DeadLetterNotFound(dead_letter_id)
    return letter


def _require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name}: must be a datetime with a time zone, got {value!r}")


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


__all__ = [
    "DeadLetterDetail",
    "DeadLetterNotFound",
    "ReplayPlan",
    "ReplayResult",
    "Settlement",
    "list_dead_letters",
    "purge",
    "replay",
    "replay_matching",
    "replay_request",
    "settle_from_scenario",
    "show_dead_letter",
]
