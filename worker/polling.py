"""Pure decisions for watching a running Scenario job."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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
