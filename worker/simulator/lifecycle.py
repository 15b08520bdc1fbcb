"""Where a job stands at a given moment, as a pure function of its times.

No thread moves jobs forward: each answer derives the state from the creation
time, the duration and the clock, so thousands of jobs cost no CPU while idle.
"""

from __future__ import annotations

from dataclasses import dataclass

# Fraction of the duration at which each non-final status begins.
PHASES = (("queued", 0.0), ("warming-up", 0.1), ("in-progress", 0.25))
IN_PROGRESS_AT = 0.25
# A failing job stops part way through its in-progress phase, as a safety filter would.
FAILURE_AT = 0.6
FINAL_STATUSES = frozenset({"success", "failure", "canceled"})
# Progress stays below 1 until the job has succeeded.
_MAX_RUNNING_PROGRESS = 0.99


@dataclass(frozen=True)
class JobTimes:
    """What decides a job's course: created, how long it runs, whether it fails, when canceled."""

    created_at: float
    duration_s: float
    fails: bool = False
    canceled_at: float | None = None


@dataclass(frozen=True)
class JobState:
    """A job seen at one moment."""

    status: str
    progress: float
    history: tuple[tuple[str, float], ...]  # (status, when) in order

    @property
    def updated_at(self) -> float:
        return self.history[-1][1]

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


def final_at(times: JobTimes) -> float:
    """When the job ends on its own (success or failure), ignoring any cancel."""
    return times.created_at + times.duration_s * (FAILURE_AT if times.fails else 1.0)


def _progress(times: JobTimes, at: float) -> float:
    start = times.created_at + times.duration_s * IN_PROGRESS_AT
    span = times.duration_s * (1.0 - IN_PROGRESS_AT)
    if at <= start or span <= 0:
        return 0.0
    return round(min(_MAX_RUNNING_PROGRESS, (at - start) / span), 2)


def _events(times: JobTimes) -> list[tuple[str, float]]:
    events = [(status, times.created_at + times.duration_s * share) for status, share in PHASES]
    events.append(("failure" if times.fails else "success", final_at(times)))
    if times.canceled_at is not None and times.canceled_at < final_at(times):
        events = [e for e in events if e[1] < times.canceled_at] or events[:1]
        events.append(("canceled", times.canceled_at))
    return events


def job_state(times: JobTimes, now: float) -> JobState:
    """The status, progress and history of a job at `now`.

    The first status is there from the start and a cancel from the moment it was
    asked; every other step shows once its time has passed, so a job answered at
    its creation is always `queued`, even with a zero duration.
    """
    reached = [
        event for index, event in enumerate(_events(times)) if index == 0 or event[0] == "canceled" or event[1] < now
    ]
    status, at = reached[-1]
    if status == "success":
        progress = 1.0
    elif status in FINAL_STATUSES:
        progress = _progress(times, at)
    else:
        progress = _progress(times, now)
    return JobState(status, progress, tuple(reached))
