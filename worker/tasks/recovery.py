"""Jobs whose message was lost come back without an operator.

A worker that dies takes with it the messages it held: countdown polls, the sweep, submits
waiting for a slot. Redis hands them out again only after its visibility timeout, and a broker
restarted empty never does. So every `SCENARIO_RECOVERY_INTERVAL_S` one worker of the fleet
(a timer each worker runs; or `celery beat`) sends `scenario.recover`, which re-arms the sweep
and sends the next task again for every job nothing touched for `stalled_after` (twice the
longest countdown). That is safe on a job that was only slow: a resent submit starts a new
chain (older messages of the job are dropped), a resent poll collapses with its duplicate by
poll_seq, and the row's claim lets one sender at a time send the job.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Collection
from datetime import datetime, timedelta, timezone

from celery.signals import worker_ready

from worker import lanes, runtime
from worker.celery_app import app
from worker.db.jobs import JobView
from worker.dispatch import send_callback, send_poll, send_submit_again, wake_waiters
from worker.endings import queue_callback
from worker.fleet.errors import FleetUnavailable
from worker.lanes import submit_lane
from worker.reconcile import reconcile
from worker.scenario.errors import ScenarioError
from worker.spending import resume_paused
from worker.tasks.base import OUTAGE_ERRORS, GenerationTask
from worker.tasks.downloads import request_downloads
from worker.tasks.generation import poll_job
from worker.tasks.sweep import request_sweep

log = logging.getLogger("worker.tasks")

# Jobs looked at by one recovery run, at most; the next run takes the rest.
JOBS_PER_RUN = 500
# Each reconciliation looks this many intervals back, so every moment is looked at more than once.
RECONCILE_WINDOWS = 3
# How far back the recovery looks for ended jobs whose callback was never recorded.
CALLBACK_LOOKBACK = timedelta(days=1)
# Batches whose downloads a recovery run looks at: the newest ones.
RECENT_BATCHES = 20


class RecoveryTask(GenerationTask):
    # A recovery that cannot reach the database or the broker is simply followed by the next one.
    autoretry_for = ()


@app.task(bind=True, base=RecoveryTask, name="scenario.recover")
def recover(self: RecoveryTask) -> int:
    """Re-arm the sweep and send again the next task of every stalled job; returns how many."""
    rt = runtime.current()
    try:
        if rt.sweeps and rt.batches.has_unfinished():
            request_sweep()
        handed_back = guard_the_sweep()
        _rearm_downloads()
        since = datetime.now(timezone.utc) - timedelta(seconds=rt.settings.stalled_after)
        sent = _recover_stalled(since)
        # A parked batch item has no timer of its own: a wake lost with a worker is made again here.
        wake_waiters()
        resumed = resume_paused(limit=JOBS_PER_RUN)
        _recover_callbacks(since)
        _reconcile_now_and_then()
    except OUTAGE_ERRORS as exc:
        log.warning("recovery failed; the next one tries again error=%s", exc)
        return 0
    if handed_back:
        log.warning("no sweep looked lately: %d jobs look at themselves again", handed_back)
    if sent:
        log.warning("recovered %d stalled jobs", sent)
    if resumed:
        log.info("resumed %d jobs paused for a budget that has room now", len(resumed))
    return sent


def guard_the_sweep() -> int:
    """The fleet's one guard over the sweep, in place of a message per swept job.

    While swept jobs are in flight and no sweep has looked lately (its worker died holding it,
    say), a sweep is asked for, and the jobs nothing has looked at for `sweep_stale_after_s`
    go back to their own polls, which hand them over again once a sweep looks. Returns how
    many were handed back.
    """
    rt = runtime.current()
    if not rt.sweeps or rt.coordination is None or rt.coordination.sweep_is_alive():
        return 0
    in_flight = rt.jobs.in_flight(limit=JOBS_PER_RUN)
    if not in_flight:
        return 0
    # Counted here, not through `sweeps_single_jobs`: a count this process kept would be what the
    # jobs it submits next second go by, and one taken before a burst is queued says none.
    singles = rt.jobs.unfinished_count() >= rt.settings.sweep_from_jobs
    swept = [job for job in in_flight if job.batch_id is not None or singles]
    if not swept:
        return 0
    request_sweep()
    settings = rt.settings
    unseen_since = datetime.now(timezone.utc) - timedelta(seconds=settings.sweep_stale_after_s)
    handed_back = 0
    for job in swept:
        # Once per stale period: the poll sent touches the job when it runs.
        if job.updated_at < unseen_since and rt.coordination.claim(
            f"handed-back:{job.id}", "1", hold_s=settings.sweep_stale_after_s
        ):
            send_poll(job.id, job.poll_seq)
            handed_back += 1
    return handed_back


def _rearm_downloads() -> None:
    """A download run lost with its worker: the recent batches with images still to fetch get one."""
    for batch_id in batches_awaiting_download():
        request_downloads(batch_id)


def batches_awaiting_download() -> list[str]:
    """The recent batches that write files and have images still to fetch: two statements, however many."""
    rt = runtime.current()
    recent = [batch for batch in rt.batches.list(limit=RECENT_BATCHES) if batch.out_dir is not None]
    waiting = rt.batches.awaiting_download_in([batch.id for batch in recent])
    return [batch.id for batch in recent if batch.id in waiting]


_reconciled_at = -math.inf


def _reconcile_now_and_then() -> None:
    """Every SCENARIO_RECONCILE_INTERVAL_S, one worker of the fleet settles Scenario's orphaned jobs."""
    global _reconciled_at
    rt = runtime.current()
    interval_s = rt.settings.reconcile_interval_s
    if not interval_s or time.monotonic() - _reconciled_at < interval_s:
        return
    _reconciled_at = time.monotonic()
    if rt.coordination is not None and not rt.coordination.arm("reconcile", ttl_s=interval_s):
        return
    try:
        report = reconcile(window_s=interval_s * RECONCILE_WINDOWS)
    except ScenarioError as exc:
        log.warning("could not reconcile with Scenario's jobs; the next run tries again error=%s", exc)
        return
    if rt.coordination is not None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        rt.coordination.note(
            "reconcile",
            f"{stamp} UTC: {report.listed} listed, {len(report.adopted)} adopted, {len(report.canceled)} canceled, "
            f"{len(report.failed)} not canceled",
        )


def _recover_callbacks(since: datetime) -> None:
    """Callbacks a dead worker took with it: an end it wrote but did not record, a delivery whose
    message was lost. Resending is safe: the delivery row is unique per job, and a receiver drops
    a second copy by its webhook-id."""
    rt = runtime.current()
    for job_id in rt.callbacks.untold_ends(ended_since=since - CALLBACK_LOOKBACK, ended_before=since):
        if queue_callback(job_id) is not None:
            log.warning("recovered the callback of job_id=%s", job_id)
    # A delivery waits at most its longest backoff between two attempts.
    quiet_s = min(rt.settings.callback_backoff_max_s, rt.settings.countdown_cap_s) + rt.settings.stalled_after
    for delivery in rt.callbacks.stalled(untouched_since=datetime.now(timezone.utc) - timedelta(seconds=quiet_s)):
        send_callback(delivery.id)
        log.warning("recovered callback delivery_id=%s job_id=%s", delivery.id, delivery.job_id)


def _recover_stalled(since: datetime) -> int:
    waiting = _messages_waiting()
    backlog = {lane for lane, count in waiting.items() if count > 0}
    return len(recover_stalled(untouched_since=since, limit=JOBS_PER_RUN, lanes_with_backlog=backlog))


def recover_stalled(
    *,
    untouched_since: datetime,
    dry_run: bool = False,
    limit: int = 10_000,
    lanes_with_backlog: Collection[str] = (),
) -> list[JobView]:
    """Send the next task again for every unfinished job nothing has touched since that moment.

    For a job whose message was lost (a crash between recording it and queueing it, a broker
    that lost its data) this is the way back. Jobs are read oldest first, and those never
    picked up yet from a lane that still has a backlog are left out in the query itself (they
    are most likely still in it), so a long queue hides no stalled job behind it. A submit is
    sent as a new chain (any older message of the job is then stale), a poll with the job's
    poll number (a duplicate finds its place taken): either way one chain goes on.
    """
    rt = runtime.current()
    skip = [lane for lane in (lanes.SUBMIT, lanes.BATCH) if lane in lanes_with_backlog]
    stalled = rt.jobs.stalled(untouched_since=untouched_since, limit=limit, skip_unpicked_in=skip)
    waiting = _waiting_for_a_slot(stalled)
    stalled = [job for job in stalled if job.id not in waiting]
    if dry_run:
        return stalled
    # Their turn comes with a freed slot (or the recovery's wake); touched, so the next runs look past them.
    rt.jobs.touch_waiting(waiting)
    sent = []
    for job in stalled:
        if job.scenario_job_id is None:
            if not send_submit_again(job.id, queue=submit_lane(job.batch_id)):
                continue
        elif _not_sent_lately(job):
            poll_job.apply_async((job.id, job.poll_seq))
        else:
            continue
        sent.append(job)
        log.info("recovered job_id=%s scenario_job_id=%s", job.id, job.scenario_job_id)
    return sent


def _waiting_for_a_slot(jobs: list[JobView]) -> set[str]:
    """The unsent jobs among these that the fleet's waiting list holds (a parked batch item has no
    message until its turn); none when Redis does not answer, so a lost list loses no job."""
    slots = runtime.current().slots
    unsent = [job.id for job in jobs if job.scenario_job_id is None]
    if slots is None or not unsent:
        return set()
    try:
        return slots.waiting_among(unsent)
    except FleetUnavailable as exc:
        log.warning("could not read the waiting list; sending the stalled jobs again error=%s", exc)
        return set()


def _not_sent_lately(job: JobView) -> bool:
    """Once per stalled_after: the poll sent touches the job when it runs."""
    rt = runtime.current()
    if rt.coordination is None:
        return True
    return rt.coordination.claim(f"recovered:{job.id}", "1", hold_s=rt.settings.stalled_after)


def _messages_waiting() -> dict[str, int]:
    """Messages ready in each submit lane (0 where the broker cannot tell)."""
    counts: dict[str, int] = {}
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in lanes.queues():
            try:
                counts[queue.name] = int(channel.queue_declare(queue=queue.name, passive=True).message_count)
            except Exception:  # a lane nobody declared yet holds nothing
                counts[queue.name] = 0
                channel = conn.channel()
    return counts


def schedule_recovery() -> bool:
    """Send a recovery run unless another worker sent one within the interval; True when sent."""
    rt = runtime.current()
    interval_s = rt.settings.recovery_interval_s
    if rt.coordination is not None and not rt.coordination.arm("recover", ttl_s=max(1.0, interval_s * 0.9)):
        return False
    recover.apply_async(queue=lanes.WATCH)
    return True


class RecoveryTimer:
    """The worker's own timer that keeps the fleet's recovery going; no extra process needed."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scenario-recovery", daemon=True)

    def start(self) -> RecoveryTimer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            try:
                schedule_recovery()
            except Exception as exc:  # the broker or Redis may be down: the next tick tries again
                log.warning("could not schedule the recovery error=%s", exc)
            if self._stop.wait(self._interval_s):
                return


@worker_ready.connect
def _start_the_recovery(**_: object) -> None:
    # What a dead worker held comes back within a minute of its death or of this start.
    interval_s = runtime.current_settings().recovery_interval_s
    if interval_s > 0:
        RecoveryTimer(interval_s).start()
