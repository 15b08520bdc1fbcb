"""Submitting a generation once, and watching it until Scenario ends it.

A generation is two kinds of short task: `submit_generation` sends it to
Scenario once, then `poll_job` looks at it and schedules the next look with a
countdown, so no worker slot ever sleeps while Scenario renders. A batch job is
watched by the shared sweep instead, and so is a single job when many are
unfinished; its own poll then only stands guard.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from worker import runtime
from worker.celery_app import app
from worker.db.jobs import JobView, ScenarioJobTaken
from worker.db.models import DeadLetterReason
from worker.fleet.errors import SubmitInProgress, SubmitsPaused, Throttled
from worker.fleet.pause import PauseUnavailable
from worker.generation import inputs_of
from worker.polling import PollOutcome, plan_next_poll
from worker.retrying import LookAgain, error_details
from worker.runtime import BUDGET_WAIT_MAX_S
from worker.scenario.errors import (
    NetworkError,
    PaymentRequired,
    ScenarioError,
    Unauthorized,
)
from worker.scenario.models import Submission
from worker.states import JobStatus
from worker.tasks.base import (
    GenerationTask,
    begin,
    dead_letter,
    deadline_s,
    elapsed_s,
    event,
    finish,
    give_up,
)
from worker.tasks.downloads import request_downloads
from worker.tasks.lost_answer import find_earlier_submission
from worker.tasks.slots import is_parallel_limit, keep_slots, refuse_for_the_plan, take_slot
from worker.tasks.sweep import request_sweep, sweeps_single_jobs

# How many times a poll that came before its predecessor stored its look comes back for it.
EARLY_POLL_TRIES = 20


@app.task(bind=True, base=GenerationTask, name="scenario.submit_generation")
def submit_generation(self: GenerationTask, job_id: str, waited: int = 0, outage_since: float | None = None) -> None:
    """Send the job to Scenario, at most once per job, then start watching it."""
    rt = runtime.current()
    job = begin(self, job_id)
    if job is None:
        return
    if job.scenario_job_id is None and job.deadline_at is not None and job.deadline_at <= _now():
        message = "its deadline passed before it could be submitted; nothing was sent to Scenario"
        dead_letter(self, job_id, DeadLetterReason.DEADLINE, {"status": None, "code": "DEADLINE", "message": message})
        return
    if job.scenario_job_id is None:
        _wait_out_an_auth_pause()
        with _submit_lease(job_id) as ours:
            if not ours:
                # Another delivery of this message holds the job. Come back when its hold
                # lapses: by then it has submitted, or it died and this one takes over.
                wait_s = (rt.coordination.held_for(f"submit:{job_id}") if rt.coordination else 0.0) + 0.5
                raise SubmitInProgress("another worker is submitting this job", retry_after_s=wait_s)
            job = rt.jobs.get(job_id) or job
            if job.scenario_job_id is None and job.unanswered_submit_at is not None:
                # An earlier attempt may have reached Scenario before its answer was lost (a
                # crash, a timeout, a 5xx after the job was made): adopt that job instead of
                # paying for a second one. Searched once per lost answer, under the lease.
                job = find_earlier_submission(self, job)
            if job.scenario_job_id is None:
                take_slot(job_id)
                try:
                    job = _submit(self, job)
                except ScenarioJobTaken as exc:
                    # Only a look-alike's search can hold it; the marker stays, so this job looks again.
                    raise LookAgain(str(exc), retry_after_s=rt.settings.retry_backoff_s) from exc
                _watch_once(job, ours=True)
                return
    _watch_once(job, ours=False)


def _submit(task: GenerationTask, job: JobView) -> JobView:
    rt = runtime.current()
    params = _checked_params(job)
    # Recorded before the request leaves, so a lost answer is looked for next time.
    rt.jobs.record_attempt(job.id, None)
    try:
        submission = _send(job.model_id, params)
    except Throttled as exc:
        rt.jobs.take_back_attempt(job.id, error_details(exc))
        raise
    except ScenarioError as exc:
        if is_parallel_limit(exc):
            # Scenario ran nothing: a wait for a slot, not a spent attempt.
            rt.jobs.take_back_attempt(job.id, error_details(exc))
            raise refuse_for_the_plan(job.id, exc) from exc
        rt.jobs.record_error(job.id, error_details(exc))
        if isinstance(exc, (Unauthorized, PaymentRequired)):
            _pause_submits(task, job.id, exc)
        raise
    job = rt.jobs.record_submitted(job.id, submission.job, cu_cost=submission.creative_units_cost)
    event(logging.INFO, "submitted", job.id, task, scenario_job_id=job.scenario_job_id, cu=job.cu_cost)
    return job


def _checked_params(job: JobView) -> dict[str, Any]:
    """The job's inputs checked against the model's schema again, just before money is spent.

    A job queued while Scenario could not be reached was checked locally only; one
    that fails now is dead-lettered without a paid request (InputError is permanent).
    Defaults filled in or a seed chosen here are stored before the request leaves.
    """
    rt = runtime.current()
    if rt.preflight is None:
        return job.params
    params = rt.preflight.params_to_send(job.model_id, job.params)
    if params != job.params:
        rt.jobs.set_params(job.id, params)
    return params


def _send(model_id: str, params: dict[str, Any]) -> Submission:
    """One submit request, through the route the settings pick."""
    rt = runtime.current()
    if rt.settings.submit_route == "txt2img":
        return rt.client.submit_txt2img(params)
    return rt.client.submit_custom(model_id, inputs_of(params))


@contextmanager
def _submit_lease(job_id: str) -> Iterator[bool]:
    """At most one worker sends a given job at a time, even if its message was handed out twice."""
    rt = runtime.current()
    if rt.coordination is None:
        yield True
        return
    settings = rt.settings
    hold_s = settings.connect_timeout_s + settings.read_timeout_s + BUDGET_WAIT_MAX_S + 5.0
    token = uuid.uuid4().hex
    ours = rt.coordination.claim(f"submit:{job_id}", token, hold_s=hold_s)
    try:
        yield ours
    finally:
        if ours:
            rt.coordination.release(f"submit:{job_id}", token)


@app.task(bind=True, base=GenerationTask, name="scenario.poll_job")
def poll_job(
    self: GenerationTask, job_id: str, seq: int, waited: int = 0, early: int = 0, outage_since: float | None = None
) -> None:
    """Look at the job once; record what Scenario says; schedule the next look or finish."""
    rt = runtime.current()
    job = begin(self, job_id)
    if job is None:
        return
    if job.poll_seq == seq - 1 and job.scenario_job_id is not None and early < EARLY_POLL_TRIES:
        # Its predecessor scheduled it, then has not stored its own look yet (a short countdown
        # can beat a slow task): come back shortly rather than leave the job unwatched. A
        # predecessor that died is redelivered and schedules this look again itself.
        poll_job.apply_async((job_id, seq), {"early": early + 1}, countdown=rt.settings.poll_initial_s)
        return
    if job.poll_seq != seq or job.scenario_job_id is None:
        # A duplicate of a poll that already ran: its successor is on its way.
        return
    if _the_sweep_has_it(job):
        # The sweep saw this job lately: stand guard again later, ask Scenario nothing.
        if rt.jobs.advance_poll_seq(job_id, seq):
            _guard_later(job_id, seq + 1)
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
        if _is_swept(job):
            _guard_later(job_id, seq + 1)
        else:
            poll_job.apply_async((job_id, seq + 1), countdown=plan.delay_s)
    if plan.outcome is PollOutcome.FINISHED and status is not JobStatus.SUCCESS:
        finish(self, job_id, status, snapshot)  # Scenario's end and the dead letter in one transaction
        return
    if not rt.jobs.apply_snapshot(job_id, snapshot, expected_poll_seq=seq):
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


def _watch_once(job: JobView, *, ours: bool) -> None:
    """Start watching the job; a job found already submitted (`ours` False) is left alone when
    another delivery of its submit watches it (a job woken for a free slot has its waiting
    retry still on its way)."""
    rt = runtime.current()
    first = True
    if rt.coordination is not None:
        hold_s = max(deadline_s(job), 60.0) + 60.0
        first = rt.coordination.claim(f"watch:{job.id}", "1", hold_s=hold_s)
    if first or ours:
        _watch(job)


def _watch(job: JobView) -> None:
    if _is_swept(job):
        _guard_later(job.id, job.poll_seq)
    else:
        poll_job.apply_async((job.id, job.poll_seq), countdown=runtime.current().settings.poll_initial_s)


def _is_swept(job: JobView) -> bool:
    """Batch jobs always, single jobs when enough are unfinished for the sweep to pay."""
    if job.batch_id is not None:
        return runtime.current().sweeps
    return sweeps_single_jobs()


def _the_sweep_has_it(job: JobView) -> bool:
    rt = runtime.current()
    if not _is_swept(job) or rt.coordination is None or not rt.coordination.sweep_is_alive():
        return False
    return (_now() - job.updated_at).total_seconds() < rt.settings.sweep_stale_after_s


def _guard_later(job_id: str, seq: int) -> None:
    """The job's own watch while the sweep does the looking: it takes over if the sweep stops."""
    request_sweep()
    poll_job.apply_async((job_id, seq), countdown=runtime.current().settings.sweep_stale_after_s)


def _wait_out_an_auth_pause() -> None:
    pause = runtime.current().auth_pause
    if pause is None:
        return
    try:
        info = pause.current()
    except PauseUnavailable as exc:
        raise NetworkError(f"the fleet's submit pause in Redis cannot be read: {exc}") from exc
    if info is not None:
        raise SubmitsPaused(
            f"submits are paused fleet-wide for {info.remaining_s:.1f} s more after Scenario answered "
            f"HTTP {info.status}: {info.message}",
            retry_after_s=info.remaining_s,
        )


def _pause_submits(task: GenerationTask, job_id: str, exc: ScenarioError) -> None:
    """After a 401 or 402, hold every worker's submits for a while instead of letting each fail.

    A 403 is about this job (its model, its plan), not the credentials: it pauses nothing.
    """
    rt = runtime.current()
    if rt.auth_pause is None:
        return
    seconds = rt.settings.auth_pause_s
    try:
        rt.auth_pause.trip(seconds=seconds, status=exc.status or 0, code=exc.code, message=exc.message)
    except PauseUnavailable:
        return
    event(logging.ERROR, "pausing submits fleet-wide", job_id, task, seconds=seconds, status=exc.status, code=exc.code)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
