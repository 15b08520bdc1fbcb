"""Taking a webhook from Scenario as a hint: check it, find its job, ask for one look at once.

Whatever receives the webhook (the console's POST /hooks/scenario) calls `take_hint` and
answers from its outcome; the look itself runs on a worker (`scenario.look_after_hint`), so
the receiver answers at once and never waits on Scenario. A hint sets no state: the look does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from worker import runtime
from worker.dispatch import send_hint_look
from worker.edge import at_the_edge
from worker.observe import metrics
from worker.scenario.webhooks import Hint, read_hint

log = logging.getLogger("worker.hints")


class Taken(Enum):
    """What a good hint led to."""

    LOOK = "look scheduled"
    UNKNOWN_JOB = "unknown job"  # no row holds that Scenario job: another program's, or made up
    ALREADY_FINAL = "already final"  # the row knows the end already: no look needed


@dataclass(frozen=True)
class HintOutcome:
    hint: Hint
    # None when the delivery itself was ignored (hint.ignored says why).
    taken: Taken | None = None
    job_id: str | None = None


def take_hint(body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> HintOutcome:
    """Read a delivery and, when it names a job of ours still running, send a look at it.

    Raises DatabaseUnavailable or BrokerUnavailable when the job cannot be found or the look
    not sent: the receiver then answers 5xx, and Scenario delivers the hint again.
    """
    settings = runtime.current().settings
    hint = read_hint(
        body,
        headers,
        secret=settings.webhook_secret,
        tolerance_s=settings.webhook_tolerance_s,
        now=time.time() if now is None else now,
    )
    if hint.ignored is not None or hint.scenario_job_id is None:
        reason = hint.ignored.value if hint.ignored is not None else "no job"
        log.info("webhook ignored reason=%s event=%s", reason, hint.event)
        metrics.webhook_hint(reason)
        return HintOutcome(hint)
    with at_the_edge():
        job = runtime.current().jobs.find_by_scenario_job_id(hint.scenario_job_id)
        if job is None:
            taken, job_id = Taken.UNKNOWN_JOB, None
        elif job.status.is_final:
            taken, job_id = Taken.ALREADY_FINAL, job.id
        else:
            send_hint_look(job.id)
            taken, job_id = Taken.LOOK, job.id
    metrics.webhook_hint(taken.value)
    log.info(
        "webhook taken outcome=%s event=%s scenario_job_id=%s job_id=%s",
        taken.value,
        hint.event,
        hint.scenario_job_id,
        job_id,
    )
    return HintOutcome(hint, taken, job_id)
