"""What every task shares: retries, dead letters, delivery counting, log lines."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any

import sqlalchemy.exc
from celery import Task

from worker import runtime
from worker.db.jobs import JobView
from worker.db.models import DeadLetterReason
from worker.fleet.errors import FleetUnavailable, FleetWait
from worker.retrying import error_details, is_permanent, retry_countdown_s
from worker.scenario.errors import (
    RateLimited,
    ScenarioError,
    TransientError,
)
from worker.states import JobStatus
from worker.tasks.labels import job_argsrepr
from worker.tasks.slots import give_back_slot

log = logging.getLogger("worker.tasks")

# A database or Redis that does not answer is an outage, not a reason to give up on a job.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    FleetWait,
    FleetUnavailable,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)


class GenerationTask(Task):
    """Retries transient errors with backoff from the settings, never before Retry-After,
    and writes a dead letter when a task about a job fails for good."""

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

    def retry(
        self, args=None, kwargs=None, exc=None, throw=True, eta=None, countdown=None, max_retries=None, **options
    ):
        countdown = retry_countdown_s(countdown, exc)
        if isinstance(exc, RateLimited):
            _slow_the_fleet(exc, countdown)
        # Waiting for the fleet's budget, a pause or another worker sends nothing, so it
        # spends no retry: a job task counts such waits in `waited` and its limit grows by them.
        waited = int((self.request.kwargs or {}).get("waited", 0))
        if isinstance(exc, FleetWait):
            max_retries = (self.request.retries or 0) + 1
            if self.name in JOB_TASKS:
                kwargs = {**(self.request.kwargs or {}), "waited": waited + 1}
        elif max_retries is None:
            max_retries = self.max_retries + waited
        job_id = (self.request.args or [None])[0]
        event(logging.WARNING, "retrying", job_id, self, delay_s=round(countdown, 3), error=str(exc) if exc else None)
        try:
            return super().retry(
                args=args,
                kwargs=kwargs,
                exc=exc,
                throw=throw,
                eta=eta,
                countdown=countdown,
                max_retries=max_retries,
                **options,
            )
        finally:
            # Celery keeps a per-call `max_retries` on the task object, which every later
            # task in this process shares; left there, one free retry would cut the next
            # task's retries short.
            self.__dict__.pop("override_max_retries", None)

    def apply_async(self, args=None, kwargs=None, **options):
        # Flower and the logs then say which job a task serves (its item, model and prompt).
        if args and "argsrepr" not in options and self.name in JOB_TASKS:
            options["argsrepr"] = job_argsrepr(args)
        return super().apply_async(args, kwargs, **options)

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        job_id = args[0] if args else kwargs.get("job_id")
        if job_id is None or self.name not in JOB_TASKS:
            return
        job = runtime.current().jobs.get(job_id)
        if job is None or job.status.is_final:
            return  # e.g. a worker stopped in the middle of a task whose job had already ended
        reason = DeadLetterReason.PERMANENT_ERROR if is_permanent(exc) else DeadLetterReason.RETRIES_EXHAUSTED
        try:
            dead_letter(self, job_id, reason, error_details(exc))
        except Exception:  # the database may be the thing that is down
            log.exception("could not write the dead letter job_id=%s task_id=%s", job_id, task_id)


# The tasks whose first argument is a job id, and whose failure ends that job.
JOB_TASKS = {"scenario.submit_generation", "scenario.poll_job"}


def _slow_the_fleet(exc: RateLimited, countdown_s: float) -> None:
    """A 429 seen by one task holds back every worker's requests, not only this retry."""
    limiter = runtime.current().limiter
    if limiter is None:
        return
    try:
        limiter.pause_until(time.time() + (exc.retry_after_s or countdown_s))
    except FleetUnavailable:
        log.warning("could not share the pause after a 429: Redis does not answer")


def begin(task: GenerationTask, job_id: str) -> JobView | None:
    """The job to work on, or None when there is nothing to do (gone, final, or a poison message)."""
    rt = runtime.current()
    job = rt.jobs.get(job_id)
    if job is None:
        log.error("no such job job_id=%s task_id=%s", job_id, task.request.id)
        return None
    if job.status.is_final:
        return None
    # The same message (task id and retry number) handed out again means its worker died.
    deliveries = rt.jobs.claim_delivery(job_id, f"{task.request.id}:{task.request.retries}")
    if deliveries > rt.settings.max_deliveries:
        message = f"the same task message was delivered {deliveries} times without finishing; its worker died each time"
        dead_letter(task, job_id, DeadLetterReason.POISON, {"status": None, "code": "POISON", "message": message})
        return None
    return job


def finish(task: Task, job_id: str, status: JobStatus | None, snapshot: dict[str, Any]) -> None:
    """A job Scenario has ended: note a success, dead-letter a failure or a cancel."""
    if status is JobStatus.SUCCESS:
        assets = (snapshot.get("metadata") or {}).get("assetIds") or []
        event(logging.INFO, "succeeded", job_id, task, scenario_job_id=snapshot.get("jobId"), assets=len(assets))
        give_back_slot(job_id)
        return
    reason = DeadLetterReason.JOB_CANCELED if status is JobStatus.CANCELED else DeadLetterReason.JOB_FAILED
    message = (snapshot.get("metadata") or {}).get("error") or f"Scenario ended the job as {snapshot.get('status')}"
    error = {"status": None, "code": str(snapshot.get("status")), "message": str(message)}
    dead_letter(task, job_id, reason, error, snapshot=snapshot)


def dead_letter(
    task: Task, job_id: str, reason: DeadLetterReason, error: dict[str, Any], *, snapshot: dict[str, Any] | None = None
) -> None:
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
        "item_name": job.item_name,
        "tags": job.tags,
    }
    # A submit counts its requests to Scenario (a retry spent waiting out a pause
    # sent nothing); any other task counts its tries.
    tries = (task.request.retries or 0) + 1 - int((task.request.kwargs or {}).get("waited", 0))
    attempts = (job.attempts or tries) if task.name == "scenario.submit_generation" else tries
    rt.jobs.dead_letter(
        job_id, reason=reason, task_name=task.name, payload=payload, error=error, attempts=attempts, snapshot=snapshot
    )
    give_back_slot(job_id)  # whatever the reason, the job runs on Scenario no more
    event(
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


def event(level: int, what: str, job_id: str | None, task: Task, **fields: Any) -> None:
    """One log line per event, with the ids an operator searches for."""
    if not log.isEnabledFor(level):
        return
    parts = [what, f"job_id={job_id}", f"task_id={task.request.id}", f"attempt={(task.request.retries or 0) + 1}"]
    parts += [f"{k}={v}" for k, v in fields.items() if v is not None]
    log.log(level, " ".join(parts))


def give_up(task: Any, job: JobView) -> None:
    """The job passed its deadline: cancel it on Scenario and dead-letter it."""
    rt = runtime.current()
    assert job.scenario_job_id is not None
    try:
        rt.client.cancel_job(job.scenario_job_id)
    except ScenarioError as exc:
        # The deadline stands either way; a job Scenario finishes late is not paid twice.
        event(logging.WARNING, "could not cancel at the deadline", job.id, task, error=str(exc))
    message = f"not finished {deadline_s(job):.0f} s after it was submitted; canceled on Scenario"
    dead_letter(task, job.id, DeadLetterReason.DEADLINE, {"status": None, "code": "DEADLINE", "message": message})


def started_at(job: JobView) -> datetime:
    return job.submitted_at or job.created_at


def elapsed_s(job: JobView) -> float:
    return (datetime.now(timezone.utc) - started_at(job)).total_seconds()


def deadline_s(job: JobView) -> float:
    """Seconds from the job's start to its deadline: the one it was given, or the default."""
    if job.deadline_at is not None:
        return (job.deadline_at - started_at(job)).total_seconds()
    return runtime.current().settings.job_deadline_s
