"""Pure decisions for watching a running Scenario job."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
# (each status keeps its own cursor, so nothing is missed, only seen a little later), and by
# any sweep that finds a job late (a job the successes did not show may have failed).
RARE_STATUS_EVERY = 3
# A sweep timed to an expected end comes this much after it: the render time is learned from
# Scenario's own history and the submit's answer marks its start, so the estimate is close.
EXPECTED_END_MARGIN_S = 0.05
# Never sooner than this after the last sweep: list calls stay few whatever the renders' length.
SWEEP_FLOOR_S = 0.25
# A job past its expected end is looked at this often for a little while, then at the beat.
CLOSE_STEP_S = 0.25
CLOSE_WATCH_S = 1.0
# Ends this close to the first one (a quarter of the render, at most a second) are seen by one
# list call: slots freed together are refilled together, so they stay in step and every later
# round needs one list for all of them.
GROUP_WINDOW_SHARE = 0.25
GROUP_WINDOW_MAX_S = 1.0
# While every job in flight has an expected end, lists come at least every this many beats.
QUIET_BEATS = 2


def statuses_to_list(sweep_number: int, *, late: bool = False) -> tuple[JobStatus, ...]:
    """The final statuses the sweep numbered so lists ended jobs of; all of them when a job is late."""
    if late or sweep_number % RARE_STATUS_EVERY == 0:
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


def group_window_s(render_s: Iterable[float]) -> float:
    """How far apart two expected ends may be and still be looked at by one list call."""
    shortest = min(render_s, default=0.0)
    return min(GROUP_WINDOW_MAX_S, GROUP_WINDOW_SHARE * max(0.0, shortest))


def quiet_s(interval_s: float) -> float:
    """The longest gap between two lists while every job in flight has an expected end."""
    return QUIET_BEATS * interval_s


def next_sweep_in_s(
    now: datetime,
    expected_ends: Iterable[datetime | None],
    *,
    interval_s: float,
    window_s: float = 0.0,
    new_end: datetime | None = None,
    unknown_step_s: float | None = None,
) -> float:
    """When the next sweep should run, seconds from `now`.

    `expected_ends` has one entry per job in flight: when it should end, or None when its
    model's render time is not known yet. The sweep comes just after the first expected end,
    waiting for those within `window_s` of it so one list sees them all; a job past its end is
    looked at closely for a little while; an unknown end is looked for every `unknown_step_s`
    (the poll's own pace for the oldest such job; the usual beat when None), so the first
    renders of a model are not left ended for most of a beat; with every end known, the gap
    may stretch to a few beats. `new_end` is when a job whose submit is on its
    way can end at the latest, if it is sent now: it counts as one more end. Never sooner than
    the floor.
    """
    ends = list(expected_ends)
    if not ends and new_end is None:
        return interval_s
    candidates = [quiet_s(interval_s)]
    future = []
    for end in ends:
        if end is None:
            candidates.append(interval_s if unknown_step_s is None else min(interval_s, unknown_step_s))
        elif end > now:
            future.append(end)
        else:
            late_s = (now - end).total_seconds()
            candidates.append(CLOSE_STEP_S if late_s < CLOSE_WATCH_S else interval_s)
    if new_end is not None and new_end > now:
        future.append(new_end)
    if future:
        first = min(future)
        last_of_group = max(end for end in future if end <= first + timedelta(seconds=window_s))
        candidates.append((last_of_group - now).total_seconds() + EXPECTED_END_MARGIN_S)
    return max(min(SWEEP_FLOOR_S, interval_s), min(candidates))


def group_pending_s(now: datetime, expected_ends: Iterable[datetime | None], *, window_s: float) -> float | None:
    """How long a sweep that comes when an end is due holds its list for the rest of that end's group.

    The sweep was timed before every job of the group was on Scenario (a woken waiter's submit
    was still on its way); by now each one's end is known. Ends within `window_s` of the first
    one due are seen by one list, as `next_sweep_in_s` meant: seconds until just after the last
    of them, or None when none is still to come (or the window has passed): list now.
    """
    ends = [end for end in expected_ends if end is not None]
    due = [end for end in ends if end <= now]
    if not due:
        return None
    closes = min(due) + timedelta(seconds=window_s)
    pending = [end for end in ends if now < end <= closes]
    if not pending:
        return None
    return (max(pending) - now).total_seconds() + EXPECTED_END_MARGIN_S


def list_is_due(
    now: datetime, expected_ends: Iterable[datetime | None], *, listed_s_ago: float | None, interval_s: float
) -> bool:
    """Whether a sweep should call the list now: a job's end is due or unknown, or the quiet gap has passed.

    A sweep that comes before any end is due (woken early for a submit still on its way) asks
    Scenario nothing and only sets the next one.
    """
    if listed_s_ago is None or listed_s_ago >= quiet_s(interval_s):
        return True
    return any(end is None or end <= now for end in expected_ends)


def is_late(now: datetime, expected_ends: Iterable[datetime | None]) -> bool:
    """Whether a job is still in flight after the close looks past its expected end (it may have failed)."""
    late_after = timedelta(seconds=CLOSE_WATCH_S)
    return any(end is not None and end + late_after <= now for end in expected_ends)


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
