"""Watching a submitted generation until Scenario ends it.

`poll_job` looks at the job and schedules the next look with a countdown, so no
worker slot ever sleeps while Scenario renders (the submit is in
`worker.tasks.submit`). A batch job is watched by the shared sweep instead, and so
is a single job when many are unfinished: while the sweep is looking, the job has no
message of its own. The fleet's one guard over the sweep (`worker.tasks.recovery`)
hands its jobs back to their own polls should the sweep stop.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from worker import runtime
from worker.celery_app import app
from worker.db.jobs import JobView
from worker.polling import PollOutcome, plan_next_poll
from worker.states import JobStatus
from worker.tasks.base import (
    GenerationTask,
    begin,
    deadline_s,
    elapsed_s,
    event,
    finish,
    give_up,
)
from worker.tasks.downloads import request_downloads
from worker.tasks.slots import keep_slots
from worker.tasks.sweep import request_sweep, sweep_is_alive, sweeps_single_jobs

# How many times a poll that came before its predecessor stored its look comes back for it.
EARLY_POLL_TRIES = 20


@app.task(bind=True, base=GenerationTask, name="scenario.poll_job")
def poll_job(
    self: GenerationTask,
    job_id: str,
    seq: int,
    waited: int = 0,
    early: int = 0,
    outage_since: float | None = None,
    alone: bool = False,
) -> None:
    """Look at the job once; record what Scenario says; schedule the next look or finish.

    `alone`: a single job the sweep handed back when it stopped, which watches itself to its
    end. It never leaves itself to the sweep again: its view of the sweep (counted a second ago,
    beaten seconds ago) could still say the sweep looks, just after it decided to stop.
    """
    rt = runtime.current()
    job = begin(self, job_id)
    if job is None:
        return
    if job.poll_seq == seq - 1 and job.scenario_job_id is not None and early < EARLY_POLL_TRIES:
        # Its predecessor scheduled it, then has not stored its own look yet (a short countdown
        # can beat a slow task): come back shortly rather than leave the job unwatched. A
        # predecessor that died is redelivered and schedules this look again itself.
        poll_job.apply_async((job_id, seq), {"early": early + 1, "alone": alone}, countdown=rt.settings.poll_initial_s)
        return
    if job.poll_seq != seq or job.scenario_job_id is None:
        # A duplicate of a poll that already ran: its successor is on its way.
        return
    if not alone and _the_sweep_has_it(job):
        # The sweep saw this job lately and goes on looking: this chain ends, Scenario is asked nothing.
        return
    snapshot = rt.client.get_job(job.scenario_job_id)
    status = JobStatus.from_scenario(str(snapshot.get("status")))
    settings = rt.settings
    plan = plan_next_poll(
        status,
        elapsed_s=elapsed_s(job),
        deadline_s=deadline_s(job),
        initial_s=settings.poll_initial_s,
        growth=settings.poll_growth,
        max_s=settings.poll_max_s,
        progress=_number(snapshot.get("progress")),
    )
    if plan.outcome is PollOutcome.AGAIN:
        keep_slots([job_id])
        # Scheduled before the row moves on, so a crash in between leaves a
        # redelivered poll to do it again rather than a job nobody watches.
        if alone or not _left_to_the_sweep(job):
            poll_job.apply_async((job_id, seq + 1), {"alone": alone}, countdown=plan.delay_s)
    if plan.outcome is PollOutcome.FINISHED and status is not JobStatus.SUCCESS:
        finish(self, job_id, status, snapshot)  # Scenario's end and the dead letter in one transaction
        return
    if not rt.jobs.apply_snapshot(job_id, snapshot, expected_poll_seq=seq, seen=job.status):
        return
    event(
        logging.DEBUG,
        "polled",
        job_id,
        self,
        scenario_job_id=job.scenario_job_id,
        status=snapshot.get("status"),
        delay_s=round(plan.delay_s, 3) if plan.outcome is PollOutcome.AGAIN else None,
    )
    if plan.outcome is PollOutcome.FINISHED:
        finish(self, job_id, status, snapshot)
        if status is JobStatus.SUCCESS and job.batch_id:
            request_downloads(job.batch_id)
    elif plan.outcome is PollOutcome.DEADLINE:
        give_up(self, job)


def watch_once(job: JobView, *, ours: bool) -> None:
    """Start watching the job; a job found already submitted (`ours` False) is left alone when
    another delivery of its submit watches it (a job woken for a free slot has its waiting
    retry still on its way)."""
    if _is_swept(job):
        # The sweep looks at it: a second delivery asks for the sweep again, which sends nothing twice.
        request_sweep()
        return
    rt = runtime.current()
    first = True
    if rt.coordination is not None:
        hold_s = max(deadline_s(job), 60.0) + 60.0
        first = rt.coordination.claim(f"watch:{job.id}", "1", hold_s=hold_s)
    if first or ours:
        poll_job.apply_async((job.id, job.poll_seq), countdown=rt.settings.poll_initial_s)


def _left_to_the_sweep(job: JobView) -> bool:
    """Whether a job that polled itself is left to the sweep from now on (no next poll of its own).

    One the guard handed back, or one the sweep gave up, polls itself until a sweep looks again.
    """
    if not _is_swept(job):
        return False
    request_sweep()
    return sweep_is_alive()


def _is_swept(job: JobView) -> bool:
    """Batch jobs always, single jobs when enough are unfinished for the sweep to pay."""
    if job.batch_id is not None:
        return runtime.current().sweeps
    return sweeps_single_jobs()


def _the_sweep_has_it(job: JobView) -> bool:
    if not _is_swept(job) or not sweep_is_alive():
        return False
    return (_now() - job.updated_at).total_seconds() < runtime.current().settings.sweep_stale_after_s


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
