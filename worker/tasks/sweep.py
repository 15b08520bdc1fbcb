"""One sweep of Scenario's jobs list keeps every job in flight up to date.

Instead of a request per job per poll, the sweep asks for the jobs that
ended since the last sweep, one list per final status (Scenario allows
`updatedAfter` only beside a `status` filter), page by page, and stores each one:
successes every sweep, failures and cancels every few (each status has its own cursor).
A job the list does not show for a while, or every job when the list call fails, is
looked at on its own. One sweep runs at a time across the fleet, timed to the moment the
first jobs in flight should end (their model's typical render time, as recently seen): ends
close together are seen by one list call, a late job is looked at closely for a little while,
and a sweep woken before any end is due asks Scenario nothing. The moment a list shows a job
ended, its plan slot is given back and the next waiter's submit sent, before any row is written.

Batch jobs are always swept; single jobs are swept once at least
`sweep_from_jobs` jobs are unfinished, since below that their own polls cost
less than the sweep's list calls. When the sweep stops, the single jobs it
leaves behind get their own polls back at once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import redis
from celery import Task

from worker import runtime
from worker.celery_app import app
from worker.db.jobs import JobView, WatchedJob
from worker.dispatch import free_slots, send_poll
from worker.endings import announce_ends
from worker.fleet.errors import Throttled
from worker.polling import (
    group_pending_s,
    group_window_s,
    is_late,
    list_is_due,
    next_poll_delay_s,
    next_sweep_in_s,
    render_seconds,
    statuses_to_list,
)
from worker.scenario.errors import RateLimited, ScenarioError
from worker.scenario.models import iso_timestamp
from worker.states import JobStatus
from worker.tasks.base import (
    TRANSIENT_ERRORS,
    GenerationTask,
    deadline_s,
    event,
    finish,
    give_up,
    slow_the_fleet,
    started_at,
)
from worker.tasks.downloads import request_downloads
from worker.tasks.slots import keep_slots

log = logging.getLogger("worker.tasks")

# Jobs change while the list is paged through; looking back a little further
# than the last change seen catches the ones that moved between pages.
CURSOR_OVERLAP_S = 5.0
# Jobs looked at one by one in a sweep, at most, so a sweep stays short.
SINGLE_LOOKS_PER_SWEEP = 50
PAGE_SIZE = 100
# How long the fleet holds back after a 429 that named no Retry-After.
SWEEP_429_WAIT_S = 2.0


# A job the list showed as ended, with what it showed.
Seen = tuple[WatchedJob, dict[str, Any]]


class SweepTask(GenerationTask):
    # A sweep that cannot reach Scenario or the database is simply followed by the next one.
    autoretry_for = ()


@app.task(bind=True, base=SweepTask, name="scenario.sweep")
def sweep(self: SweepTask) -> None:
    rt = runtime.current()
    coord = rt.coordination
    if coord is None:
        return
    token = uuid.uuid4().hex
    if not coord.claim("sweep", token, hold_s=max(30.0, rt.settings.sweep_interval_s * 10)):
        return
    woken: list[str] = []
    looked: set[str] = set()
    hold_s = None
    try:
        hold_s = _sweep_once(self, woken, looked)
        coord.beat()
    except TRANSIENT_ERRORS as exc:
        event(logging.WARNING, "sweep failed; the next one will try again", None, self, error=str(exc))
    finally:
        coord.release("sweep", token)
        coord.disarm("sweep")
    # Whether any batch job is left is all the sweep needs: not a count of a batch's thousands.
    batch_jobs = int(rt.batches.has_unfinished())
    single_jobs = rt.jobs.unfinished_count(single_only=True)
    if keep_sweeping(batch_jobs=batch_jobs, single_jobs=single_jobs, sweep_from=rt.settings.sweep_from_jobs):
        request_sweep(woken=woken, in_s=hold_s, looked=looked)
    elif single_jobs:
        _hand_back_single_jobs()


def keep_sweeping(*, batch_jobs: int, single_jobs: int, sweep_from: int) -> bool:
    """Whether another sweep is worth its list calls: any unfinished batch job, or enough unfinished single jobs."""
    return batch_jobs > 0 or single_jobs >= sweep_from


def sweeps_single_jobs() -> bool:
    """Whether a single job is watched by the sweep now: enough jobs are unfinished for it to pay.

    Jobs still queued count too, so the first jobs of a burst are swept with the rest.
    The count is a database query; it is taken at most once a second per process, since
    every look at a job asks this and the answer changes slowly.
    """
    global _count_seen
    rt = runtime.current()
    if not rt.sweeps:
        return False
    now = time.monotonic()
    if _count_seen is None or now - _count_seen[0] >= COUNT_FRESH_S:
        _count_seen = (now, rt.jobs.unfinished_count())
    return _count_seen[1] >= rt.settings.sweep_from_jobs


# How long a count of the unfinished jobs is trusted, seconds.
COUNT_FRESH_S = 1.0
_count_seen: tuple[float, int] | None = None


def sweep_is_alive() -> bool:
    """Whether a sweep has looked lately (its beat in Redis).

    Every look at a swept job asks; the answer is taken at most once a second per process,
    since the beat itself is counted in sweep intervals.
    """
    global _alive_seen
    rt = runtime.current()
    if rt.coordination is None:
        return False
    now = time.monotonic()
    if _alive_seen is None or now - _alive_seen[0] >= ALIVE_FRESH_S:
        _alive_seen = (now, rt.coordination.sweep_is_alive())
    return _alive_seen[1]


# How long a look at the sweep's beat is trusted, seconds.
ALIVE_FRESH_S = 1.0
_alive_seen: tuple[float, bool] | None = None


def _hand_back_single_jobs() -> None:
    """The single jobs still in flight when the sweep stops look at themselves again, now, to their end.

    Read after the sweep gave up its mark: a job recorded later asks for a sweep itself (after
    its record), which then finds the mark free and comes. A job that kept its own polls
    meanwhile gets one extra look: whichever of the two polls with its sequence number comes
    first takes it, the other finds it gone.
    """
    for job in runtime.current().jobs.in_flight():
        if job.batch_id is None:
            send_poll(job.id, job.poll_seq, alone=True)


def request_sweep(*, woken: Iterable[str] = (), in_s: float | None = None, looked: set[str] | None = None) -> None:
    """Make sure a sweep is coming: the first caller schedules it, the others find it armed.

    `woken` names the waiters whose submits the caller just sent, so the next look also
    covers the jobs they are about to start; `in_s`, when given, is when it comes (a sweep
    holding its list for the rest of a group); `looked`, given by a sweep, the jobs it looked for.
    """
    rt = runtime.current()
    if rt.coordination is not None and rt.coordination.arm("sweep"):
        # Timed by whoever arms it (a submit, the recovery, the last sweep): the first ends due.
        sweep.apply_async(countdown=_next_sweep_in_s(set(woken), looked) if in_s is None else in_s)


def _next_sweep_in_s(woken: set[str], looked: set[str] | None = None) -> float:
    """The next sweep comes just after the first expected end (or ends close together), if that is
    sooner than the usual cadence.

    A slot is given back only once a look sees its job ended: looking when the end is due,
    rather than on a fixed beat, keeps the plan's slots from idling for the beat's lag.
    """
    rt = runtime.current()
    interval_s = rt.settings.sweep_interval_s
    try:
        typical = _typical_render_s()
    except redis.RedisError:
        return interval_s
    jobs = rt.jobs.in_flight()
    known = [typical[job.model_id] for job in jobs if job.model_id in typical] or list(typical.values())
    now = datetime.now(timezone.utc)
    # A woken waiter whose job is not on Scenario yet is being submitted: if sent now, it ends then.
    on_its_way = woken - {job.id for job in jobs}
    new_end = now + timedelta(seconds=max(known)) if known and on_its_way else None
    ends = _expected_ends(jobs, typical)
    if looked is not None:
        # A job the last sweep did not look for (recorded while it ran) is not late, however long
        # ago its end came due: no list has missed it yet, so it is due now, not left to the beat.
        ends = [
            now if end is not None and end < now and job.id not in looked else end
            for job, end in zip(jobs, ends, strict=True)
        ]
    return next_sweep_in_s(
        now,
        ends,
        interval_s=interval_s,
        window_s=group_window_s(known),
        new_end=new_end,
        unknown_step_s=_unknown_step_s(now, jobs, typical),
    )


def _unknown_step_s(now: datetime, jobs: Iterable[WatchedJob], typical: dict[str, float]) -> float | None:
    """How often to look for ends nobody can foresee yet (a model's first renders): at the pace the
    oldest such job's own polls would take; None when every end in flight is foreseen."""
    unknown = [job.submitted_at for job in jobs if job.submitted_at is not None and job.model_id not in typical]
    if not unknown:
        return None
    settings = runtime.current().settings
    return next_poll_delay_s(
        (now - min(unknown)).total_seconds(),
        initial_s=settings.poll_initial_s,
        growth=settings.poll_growth,
        max_s=settings.sweep_interval_s,
    )


def _typical_render_s() -> dict[str, float]:
    coord = runtime.current().coordination
    return coord.render_s() if coord is not None else {}


def _expected_ends(jobs: Iterable[WatchedJob], typical: dict[str, float]) -> list[datetime | None]:
    """When each job should end: its submit plus its model's typical render time; None when not known."""
    return [
        job.submitted_at + timedelta(seconds=typical[job.model_id])
        if job.submitted_at is not None and job.model_id in typical
        else None
        for job in jobs
    ]


def _sweep_once(task: SweepTask, woken: list[str], looked: set[str] | None = None) -> float | None:
    """One look at the jobs in flight; `woken` gathers the waiters whose submits the freed slots sent,
    `looked` the jobs this sweep looked for.

    Returns when the next sweep should come if this one held its list for the rest of a group
    (None: the usual timing).
    """
    rt = runtime.current()
    coord = rt.coordination
    watched = {job.scenario_job_id: job for job in rt.jobs.in_flight()}
    if not watched:
        return None
    now = datetime.now(timezone.utc)
    try:
        typical = _typical_render_s()
        ends = _expected_ends(watched.values(), typical)
        listed_s_ago = coord.listed_s_ago()
    except redis.RedisError:
        typical, ends, listed_s_ago = {}, [None], None
    if not list_is_due(now, ends, listed_s_ago=listed_s_ago, interval_s=rt.settings.sweep_interval_s):
        return None  # woken before any end is due: the next sweep is set for it
    # Slots freed apart are refilled apart and stay apart, each part costing a list a round:
    # an end due now waits a moment for the ends of its group that are about to come.
    hold_s = group_pending_s(now, ends, window_s=group_window_s(typical.values()))
    if hold_s is not None:
        return hold_s
    if looked is not None:
        looked.update(job.id for job in watched.values())
    ended: list[Seen] = []
    listed = True
    try:
        for status in statuses_to_list(coord.next_sweep_number(), late=is_late(now, ends)):
            if not watched:
                break  # every job in flight is seen ended: the other lists have nothing to find
            _list_ended(status, watched, ended, woken)
        coord.note_listed()
    except (RateLimited, Throttled) as exc:
        if isinstance(exc, RateLimited):
            slow_the_fleet(exc, SWEEP_429_WAIT_S)  # no worker asks again before Retry-After
        return None  # the fleet is pausing or out of budget; the next sweep picks up from the same cursors
    except ScenarioError as exc:
        listed = False
        event(logging.WARNING, "the jobs list failed; looking at jobs one by one", None, task, error=str(exc))
    finally:
        # Their slots are free already; their rows are written once every list call is in.
        store_ended(task, ended)
    keep_slots(job.id for job in watched.values())
    _look_at_stragglers(task, watched.values(), everyone=not listed)
    return None


def _list_ended(status: JobStatus, watched: dict[str, WatchedJob], ended: list[Seen], woken: list[str]) -> None:
    """Find every watched job Scenario lists as ended with `status` since that status's cursor.

    Their plan slots are given back as soon as the list is read, and the waiters they let in
    are sent on their way, before any row is written: the next submits go out while this sweep
    stores what it saw.
    """
    rt = runtime.current()
    since = _since(rt.coordination.cursor(status.value), watched.values())
    newest = since
    freed: list[str] = []
    for remote in rt.client.iter_jobs(status=status.value, updated_after=since, page_size=PAGE_SIZE):
        updated = str(remote.get("updatedAt") or "")
        if updated and _instant(updated) < _instant(since):
            # Older than asked for: a service that ignored the filter. Nothing further is new.
            break
        newest = max(newest, updated or newest, key=_instant)
        job = watched.pop(remote.get("jobId"), None)
        if job is None:
            continue
        final = JobStatus.from_scenario(str(remote.get("status")))
        if final is not None and final.is_final:
            freed.append(job.id)
        ended.append((job, remote))
        if not watched:
            # Every job in flight is found: the pages left hold only ends stored already (the
            # cursor's overlap), and the newest change came first, so the cursor loses nothing.
            break
    woken += free_slots(freed)
    rt.coordination.set_cursor(status.value, newest)


def _look_at_stragglers(task: SweepTask, jobs: Any, *, everyone: bool) -> None:
    """Jobs the list did not show: those unseen for too long (or all, if the list failed) get a GET."""
    rt = runtime.current()
    now = datetime.now(timezone.utc)
    stale_after = timedelta(seconds=rt.settings.sweep_stale_after_s)
    looked = 0
    for job in jobs:
        if _past_deadline(job, now):
            give_up(task, job)
            continue
        if looked >= SINGLE_LOOKS_PER_SWEEP or (not everyone and now - job.updated_at < stale_after):
            continue
        looked += 1
        try:
            remote = rt.client.get_job(job.scenario_job_id)
        except (RateLimited, Throttled) as exc:
            if isinstance(exc, RateLimited):
                slow_the_fleet(exc, SWEEP_429_WAIT_S)
            return
        except ScenarioError as exc:
            event(logging.WARNING, "could not look at the job", job.id, task, error=str(exc))
            continue
        store_remote(task, job, remote)


def store_ended(task: Task, ended: list[Seen]) -> None:
    """Store what the lists showed: the successes in one transaction, anything else one by one.

    The successes' slots were given back when the list was read, so only their ends are told;
    their model's render time is learned once from all of them.
    """
    rt = runtime.current()
    successes = {job.id: (job, remote) for job, remote in ended if _status_of(remote) is JobStatus.SUCCESS}
    for job, remote in ended:
        if job.id not in successes:
            store_remote(task, job, remote)
    if not successes:
        return
    stored = rt.jobs.apply_final_snapshots((job_id, remote) for job_id, (_, remote) in successes.items())
    for row in stored:
        event(logging.INFO, "succeeded", row.id, task, scenario_job_id=successes[row.id][0].scenario_job_id)
    announce_ends((row.id, row.callback_url is not None) for row in stored)
    for batch_id in {row.batch_id for row in stored if row.batch_id is not None}:
        request_downloads(batch_id)
    _learn_render_times([successes[row.id] for row in stored])


def _status_of(remote: dict[str, Any]) -> JobStatus | None:
    return JobStatus.from_scenario(str(remote.get("status")))


def store_remote(task: Task, job: WatchedJob | JobView, remote: dict[str, Any]) -> None:
    """Store what Scenario said of a job (a list's entry or a GET), and end the job if it is final."""
    rt = runtime.current()
    status = JobStatus.from_scenario(str(remote.get("status")))
    if status is not None and status.is_final and status is not JobStatus.SUCCESS:
        finish(task, job.id, status, remote)  # Scenario's end and the dead letter in one transaction
        return
    if not rt.jobs.apply_snapshot(job.id, remote, seen=job.status):
        return
    if status is JobStatus.SUCCESS:
        finish(task, job.id, status, remote)
        request_downloads(job.batch_id)
        _learn_render_time(job, remote)


def _learn_render_times(seen: list[Seen]) -> None:
    """Fold the render times of jobs seen ended together into their models' estimates, once per model."""
    coord = runtime.current().coordination
    if coord is None:
        return
    by_model: dict[str, list[float]] = {}
    for job, remote in seen:
        seconds = render_seconds(remote.get("statusHistory") or [])
        if seconds is not None and job.model_id:
            by_model.setdefault(job.model_id, []).append(seconds)
    try:
        for model_id, times in by_model.items():
            # As if each were folded in alone: n steps of weight w leave (1 - w)^n of the old value.
            coord.note_render_s(model_id, sum(times) / len(times), weight=1 - (1 - RENDER_WEIGHT) ** len(times))
    except redis.RedisError:
        pass  # a hint for the sweep's timing; the fixed interval serves without it


# How much one observed render moves its model's estimate.
RENDER_WEIGHT = 0.3


def _learn_render_time(job: WatchedJob | JobView, remote: dict[str, Any]) -> None:
    rt = runtime.current()
    seconds = render_seconds(remote.get("statusHistory") or [])
    if seconds is None or rt.coordination is None or not job.model_id:
        return
    try:
        rt.coordination.note_render_s(job.model_id, seconds)
    except redis.RedisError:
        pass  # a hint for the sweep's timing; the fixed interval serves without it


def _since(cursor: str | None, jobs: Any) -> str:
    """Where this sweep's list starts, less the overlap: the last change seen, or the oldest
    submission among the watched jobs if that is later (nothing of theirs changed before it)."""
    start = min(job.submitted_at or job.created_at for job in jobs)
    if cursor:
        start = max(start, datetime.fromisoformat(cursor.replace("Z", "+00:00")))
    return iso_timestamp(start - timedelta(seconds=CURSOR_OVERLAP_S))


def _instant(iso: str) -> datetime:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)


def _past_deadline(job: WatchedJob, now: datetime) -> bool:
    return (now - started_at(job)).total_seconds() >= deadline_s(job)
