"""The only place where Celery meets the Scenario client and the database.

A generation is two kinds of short task: `submit_generation` sends it to
Scenario once, then `poll_job` looks at it and schedules the next look with a
countdown, so no worker slot ever sleeps while Scenario renders.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy.exc
from celery import Task

from worker import runtime
from worker.celery_app import app
from worker.db.jobs import JobView
from worker.db.models import DeadLetterReason
from worker.polling import PollOutcome, plan_next_poll
from worker.retrying import error_details, is_permanent, retry_countdown_s, same_generation
from worker.scenario.errors import ScenarioError, TransientError
from worker.states import JobStatus

log = logging.getLogger("worker.tasks")

# A database that does not answer is an outage, not a reason to give up on a job.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)

# How far back to look for a job an earlier attempt may have created.
ORPHAN_LOOKBACK_S = 5.0
ORPHAN_SCAN_LIMIT = 300


class GenerationTask(Task):
    """Retries transient errors with backoff from the settings, never before Retry-After,
    and writes a dead letter when a task fails for good."""

    autoretry_for = TRANSIENT_ERRORS
    acks_late = True
    reject_on_worker_lost = True

    # Read from the settings when Celery first builds the task, not at import.
    @property
    def max_retries(self) -> int:  # type: ignore[override]
        return runtime.current_settings().max_retries

    @property
    def retry_backoff(self) -> int:  # type: ignore[override]
        return runtime.current_settings().retry_backoff_s

    @property
    def retry_backoff_max(self) -> int:  # type: ignore[override]
        return runtime.current_settings().retry_backoff_max_s

    @property
    def retry_jitter(self) -> bool:  # type: ignore[override]
        return runtime.current_settings().retry_jitter

    def retry(self, args=None, kwargs=None, exc=None, throw=True, eta=None, countdown=None, max_retries=None, **options):
        countdown = retry_countdown_s(countdown, exc)
        job_id = (self.request.args or [None])[0]
        _event(
            logging.WARNING,
            "retrying",
            job_id,
            self,
            delay_s=round(countdown, 3),
            error=str(exc) if exc is not None else None,
        )
        return super().retry(
            args=args, kwargs=kwargs, exc=exc, throw=throw, eta=eta, countdown=countdown, max_retries=max_retries, **options
        )

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        job_id = args[0] if args else kwargs.get("job_id")
        if job_id is None:
            return
        reason = DeadLetterReason.PERMANENT_ERROR if is_permanent(exc) else DeadLetterReason.RETRIES_EXHAUSTED
        try:
            _dead_letter(self, job_id, reason, error_details(exc))
        except Exception:  # the database may be the thing that is down
            log.exception("could not write the dead letter job_id=%s task_id=%s", job_id, task_id)


@app.task(bind=True, base=GenerationTask, name="scenario.submit_generation")
def submit_generation(self: GenerationTask, job_id: str) -> None:
    """Send the job to Scenario, at most once per job, then start polling it."""
    rt = runtime.current()
    job = _begin(self, job_id)
    if job is None:
        return
    if job.scenario_job_id is None and job.deadline_at is not None and job.deadline_at <= datetime.now(timezone.utc):
        message = "its deadline passed before it could be submitted; nothing was sent to Scenario"
        _dead_letter(self, job_id, DeadLetterReason.DEADLINE, {"status": None, "code": "DEADLINE", "message": message})
        return
    if job.scenario_job_id is None and job.attempts > 0:
        # An earlier attempt may have reached Scenario before its answer was
        # lost (a crash, a timeout, a 5xx after the job was made): adopt that
        # job instead of paying for a second one.
        earlier = _find_earlier_submission(job)
        if earlier is not None:
            job = rt.jobs.record_submitted(job_id, earlier)
            _event(logging.INFO, "adopted an earlier submission", job_id, self, scenario_job_id=job.scenario_job_id)
    if job.scenario_job_id is not None:
        _schedule_poll(job, rt.settings.poll_initial_s)
        return
    rt.jobs.record_attempt(job_id, None)
    try:
        accepted = rt.client.generate(job.params)
    except ScenarioError as exc:
        rt.jobs.record_error(job_id, error_details(exc))
        raise
    job = rt.jobs.record_submitted(job_id, accepted)
    _event(logging.INFO, "submitted", job_id, self, scenario_job_id=job.scenario_job_id)
    _schedule_poll(job, rt.settings.poll_initial_s)


@app.task(bind=True, base=GenerationTask, name="scenario.poll_job")
def poll_job(self: GenerationTask, job_id: str, seq: int) -> None:
    """Look at the job once; record what Scenario says; schedule the next look or finish."""
    rt = runtime.current()
    job = _begin(self, job_id)
    if job is None:
        return
    if job.poll_seq != seq or job.scenario_job_id is None:
        # A duplicate of a poll that already ran: its successor is on its way.
        return
    snapshot = rt.client.get_job(job.scenario_job_id)
    status = JobStatus.from_scenario(str(snapshot.get("status")))
    settings = rt.settings
    plan = plan_next_poll(
        status,
        elapsed_s=_elapsed_s(job),
        deadline_s=_deadline_s(job),
        initial_s=settings.poll_initial_s,
        growth=settings.poll_growth,
        max_s=settings.poll_max_s,
        progress=_number(snapshot.get("progress")),
    )
    if plan.outcome is PollOutcome.AGAIN:
        # Scheduled before the row moves on, so a crash in between leaves a
        # redelivered poll to do it again rather than a job nobody watches.
        poll_job.apply_async((job_id, seq + 1), countdown=plan.delay_s)
    if not rt.jobs.apply_snapshot(job_id, snapshot, expected_poll_seq=seq):
        return
    _event(
        logging.DEBUG,
        "polled",
        job_id,
        self,
        scenario_job_id=job.scenario_job_id,
        status=snapshot.get("status"),
        delay_s=round(plan.delay_s, 3) if plan.outcome is PollOutcome.AGAIN else None,
    )
    if plan.outcome is PollOutcome.FINISHED:
        _finish(self, job_id, status, snapshot)
    elif plan.outcome is PollOutcome.DEADLINE:
        _give_up(self, job)


def _begin(task: GenerationTask, job_id: str) -> JobView | None:
    """The job to work on, or None when there is nothing to do (gone, final, or a poison message)."""
    rt = runtime.current()
    job = rt.jobs.get(job_id)
    if job is None:
        log.error("no such job job_id=%s task_id=%s", job_id, task.request.id)
        return None
    if job.status.is_final:
        return None
    delivery = f"{task.request.id}:{task.request.retries}"
    deliveries = rt.jobs.claim_delivery(job_id, delivery)
    if deliveries > rt.settings.max_deliveries:
        message = (
            f"the same task message was delivered {deliveries} times without finishing; "
            "its worker died each time"
        )
        _dead_letter(task, job_id, DeadLetterReason.POISON, {"status": None, "code": None, "message": message})
        return None
    return job


def _finish(task: GenerationTask, job_id: str, status: JobStatus | None, snapshot: dict[str, Any]) -> None:
    if status is JobStatus.SUCCESS:
        assets = (snapshot.get("metadata") or {}).get("assetIds") or []
        _event(logging.INFO, "succeeded", job_id, task, scenario_job_id=snapshot.get("jobId"), assets=len(assets))
        return
    reason = DeadLetterReason.JOB_CANCELED if status is JobStatus.CANCELED else DeadLetterReason.JOB_FAILED
    message = (snapshot.get("metadata") or {}).get("error") or f"Scenario ended the job as {snapshot.get('status')}"
    _dead_letter(task, job_id, reason, {"status": None, "code": str(snapshot.get("status")), "message": str(message)})


def _give_up(task: GenerationTask, job: JobView) -> None:
    rt = runtime.current()
    assert job.scenario_job_id is not None
    try:
        rt.client.cancel_job(job.scenario_job_id)
    except ScenarioError as exc:
        # The deadline stands either way; a job Scenario finishes late is not paid twice.
        _event(logging.WARNING, "could not cancel at the deadline", job.id, task, error=str(exc))
    message = f"not finished {_deadline_s(job):.0f} s after it was submitted; canceled on Scenario"
    _dead_letter(task, job.id, DeadLetterReason.DEADLINE, {"status": None, "code": "DEADLINE", "message": message})


def _dead_letter(task: GenerationTask, job_id: str, reason: DeadLetterReason, error: dict[str, Any]) -> None:
    rt = runtime.current()
    job = rt.jobs.get(job_id)
    if job is None:
        return
    payload = {
        "task": task.name,
        "args": list(task.request.args or [job_id]),
        "kwargs": dict(task.request.kwargs or {}),
        "model_id": job.model_id,
        "params": job.params,
        "batch_id": job.batch_id,
        "item_key": job.item_key,
    }
    rt.jobs.dead_letter(
        job_id,
        reason=reason,
        task_name=task.name,
        payload=payload,
        error=error,
        attempts=max(job.attempts, task.request.retries + 1),
    )
    _event(
        logging.ERROR,
        "dead-lettered",
        job_id,
        task,
        scenario_job_id=job.scenario_job_id,
        reason=reason.value,
        status=error.get("status"),
        code=error.get("code"),
        error=error.get("message"),
    )


def _schedule_poll(job: JobView, delay_s: float) -> None:
    poll_job.apply_async((job.id, job.poll_seq), countdown=delay_s)


def _find_earlier_submission(job: JobView) -> dict[str, Any] | None:
    rt = runtime.current()
    since = job.created_at - timedelta(seconds=ORPHAN_LOOKBACK_S)
    for seen, candidate in enumerate(rt.client.iter_jobs(updated_after=since, page_size=100)):
        if seen >= ORPHAN_SCAN_LIMIT:
            break
        input_ = (candidate.get("metadata") or {}).get("input") or {}
        if same_generation(job.params, input_) and not rt.jobs.is_known_scenario_job(candidate["jobId"]):
            return candidate
    return None


def _started(job: JobView) -> datetime:
    return job.submitted_at or job.created_at


def _elapsed_s(job: JobView) -> float:
    return (datetime.now(timezone.utc) - _started(job)).total_seconds()


def _deadline_s(job: JobView) -> float:
    """Seconds from the job's start to its deadline: the one it was given, or the default."""
    if job.deadline_at is not None:
        return (job.deadline_at - _started(job)).total_seconds()
    return runtime.current().settings.job_deadline_s


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _event(level: int, what: str, job_id: str | None, task: Task, **fields: Any) -> None:
    """One log line per event, with the ids an operator searches for."""
    if not log.isEnabledFor(level):
        return
    parts = [what, f"job_id={job_id}", f"task_id={task.request.id}", f"attempt={task.request.retries + 1}"]
    parts += [f"{k}={v}" for k, v in fields.items() if v is not None]
    log.log(level, " ".join(parts))
