"""Pure decisions for watching a running Scenario job."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from worker.states import JobStatus


class PollOutcome(Enum):
    FINISHED = "finished"
    AGAIN = "again"
    DEADLINE = "deadline"


@dataclass(frozen=True)
class PollPlan:
    outcome: PollOutcome
    delay_s: float = 0.0


def next_poll_delay_s(
    elapsed_s: float,
    *,
    initial_s: float,
    growth: float,
    max_s: float,
    progress: float | None = None,
) -> float:
    """How long to wait before looking at a job again.

    Quick at first, then a fixed share of the time the job has already run, so
    a long job is asked about rarely; capped at `max_s`. When Scenario reports
    progress, never wait much past the moment the job should be done.
    """
    delay = max(initial_s, max(0.0, elapsed_s) * (growth - 1.0))
    if progress is not None and 0.05 <= progress < 1.0 and elapsed_s > 0:
        remaining_s = elapsed_s * (1.0 - progress) / progress
        delay = min(delay, max(initial_s, remaining_s))
    return min(delay, max_s)


def plan_next_poll(
    status: JobStatus | None,
    *,
    elapsed_s: float,
    deadline_s: float,
    initial_s: float,
    growth: float,
    max_s: float,
    progress: float | None = None,
) -> PollPlan:
    """What to do after a poll: stop, poll again after a delay, or give up at the deadline.

    `status` None is a status this code does not know, which is never final.
    """
    if status is not None and status.is_final:
        return PollPlan(PollOutcome.FINISHED)
    if elapsed_s >= deadline_s:
        return PollPlan(PollOutcome.DEADLINE)
    delay = next_poll_delay_s(elapsed_s, initial_s=initial_s, growth=growth, max_s=max_s, progress=progress)
    # Never sleep past the deadline: the last look comes right at it.
    delay = min(delay, max(0.0, deadline_s - elapsed_s))
    return PollPlan(PollOutcome.AGAIN, delay)


# Successes are listed by every sweep; failures and cancels, rarer, by one sweep in this many
# (each status keeps its own cursor, so nothing is missed, only seen a little later).
RARE_STATUS_EVERY = 3
# A sweep timed to a job's expected end comes this much after it, and never sooner than
# `SWEEP_FLOOR_S` after the last one: the list calls stay few whatever the renders' length.
EXPECTED_END_MARGIN_S = 0.15
SWEEP_FLOOR_S = 0.5


def statuses_to_list(sweep_number: int) -> tuple[JobStatus, ...]:
    """The final statuses the sweep numbered so lists ended jobs of."""
    if sweep_number % RARE_STATUS_EVERY == 0:
        return (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELED)
    return (JobStatus.SUCCESS,)


def render_seconds(history: Sequence[Mapping[str, Any]]) -> float | None:
    """How long Scenario took from its first status to success, from the job's statusHistory."""
    dates = [_instant(entry.get("date")) for entry in history]
    ended = [_instant(entry.get("date")) for entry in history if entry.get("status") == JobStatus.SUCCESS.value]
    started = [date for date in dates if date is not None]
    if not started or not ended or ended[-1] is None:
        return None
    seconds = (ended[-1] - min(started)).total_seconds()
    return seconds if seconds >= 0 else None


def next_sweep_in_s(now: datetime, expected_ends: Iterable[datetime], *, interval_s: float) -> float:
    """When the next sweep should run: at the earliest expected end of a job in flight, if that
    comes before the usual interval (and not sooner than the floor); else after the interval."""
    # A job already past its expected end has run long: it is left to the usual cadence.
    soonest = min((end for end in expected_ends if end > now), default=None)
    if soonest is None:
        return interval_s
    due_s = (soonest - now).total_seconds() + EXPECTED_END_MARGIN_S
    return min(interval_s, max(min(SWEEP_FLOOR_S, interval_s), due_s))


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
