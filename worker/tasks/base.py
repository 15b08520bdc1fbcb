"""What every task shares: retries, dead letters, delivery counting, log lines."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc
from celery import Task
from celery.exceptions import MaxRetriesExceededError, SoftTimeLimitExceeded

from worker import runtime, waits
from worker.db.claims import CANCELED_BY_REQUEST
from worker.db.jobs import JobView
from worker.db.models import DeadLetterReason
from worker.dispatch import job_ended
from worker.errors import WorkerError
from worker.fleet.errors import FleetUnavailable, FleetWait
from worker.labels import job_argsrepr, remember
from worker.observe import metrics
from worker.retrying import error_details, is_permanent
from worker.scenario.errors import (
    ParallelLimitReached,
    PermanentError,
    RateLimited,
    ScenarioError,
    TransientError,
)
from worker.scenario.schema import InputError
from worker.states import JobStatus
from worker.waits import RetryKind

log = logging.getLogger("worker.tasks")


# Our own infrastructure not answering (the database, Redis, the broker) is an outage: retried
# for as long as SCENARIO_OUTAGE_BUDGET_S, never a reason to dead-letter a job.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    FleetUnavailable,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    FleetWait,
    SoftTimeLimitExceeded,
    *OUTAGE_ERRORS,
)


def retry_kind(exc: BaseException | None) -> RetryKind:
    """What a retry after this error spends (see worker/waits.py)."""
    if isinstance(exc, FleetWait) or _while_scenario_is_down(exc):
        return RetryKind.WAIT
    # A request that never left because Redis (the fleet's budget or pause) did not answer is
    # raised as a network error for its callers, but it is our outage, not Scenario's.
    if isinstance(exc, OUTAGE_ERRORS) or isinstance(getattr(exc, "__cause__", None), OUTAGE_ERRORS):
        return RetryKind.OUTAGE
    return RetryKind.SCENARIO


def _while_scenario_is_down(exc: BaseException | None) -> bool:
    """A failure met while the fleet's breaker is open (a probe's, or a request already out) is
    Scenario's outage, not the job's: it spends no try, as the requests held back spend none."""
    if not isinstance(exc, TransientError) or isinstance(exc, RateLimited):
        return False
    breaker = runtime.current().breaker
    if breaker is None:
        return False
    try:
        return breaker.is_open()
    except FleetUnavailable:
        return False


class GenerationTask(Task):
    """Retries transient errors with backoff from the settings, never before Retry-After,
    and writes a dead letter when a task about a job fails for good.

    The task decides itself when to give up (worker/waits.py): Celery's own retry limit is off,
    and its backoff too, so every countdown comes from one place.
    """

    autoretry_for = TRANSIENT_ERRORS
    # Known refusals end their job in a dead letter: logged in one line, not as a crash with a traceback.
    throws = (PermanentError, InputError)
    acks_late = True
    reject_on_worker_lost = True
    max_retries = None
    retry_backoff = False

    # Read from the settings when the worker first runs a task, not at import.
    @property
    def soft_time_limit(self) -> float:  # type: ignore[override]
        return runtime.current_settings().soft_time_limit_s

    @property
    def time_limit(self) -> float:  # type: ignore[override]
        return runtime.current_settings().time_limit_s

    def retry(
        self, args=None, kwargs=None, exc=None, throw=True, eta=None, countdown=None, max_retries=None, **options
    ):
        settings = runtime.current_settings()
        kind = retry_kind(exc)
        given = dict(self.request.kwargs or {})
        # Waits and outages send nothing to Scenario: a task counts them in `waited`, so only
        # Scenario's own errors spend its tries; an outage is bounded by time since it began.
        waited = int(given.get("waited", 0))
        outage_since = given.get("outage_since") if kind is RetryKind.OUTAGE else None
        now = time.time()
        tries_spent = (self.request.retries or 0) - waited + 1
        if waits.gives_up(
            kind,
            tries_spent=tries_spent,
            max_tries=settings.max_retries,
            outage_elapsed_s=now - float(outage_since or now),
            outage_budget_s=settings.outage_budget_s,
        ):
            if exc is None:
                raise MaxRetriesExceededError(f"{self.name} gave up after {tries_spent} tries")
            raise exc
        countdown = _countdown_s(kind, exc, countdown, tries_spent - 1, settings)
        (metrics.waited if kind is RetryKind.WAIT else metrics.retried)(exc)
        rate_limited = _rate_limited(exc)
        if rate_limited is not None:
            slow_the_fleet(rate_limited, countdown)
        if self.name in KWARG_TASKS:
            extra = {"waited": waited + (kind is not RetryKind.SCENARIO)}
            extra["outage_since"] = (outage_since or now) if kind is RetryKind.OUTAGE else None
            kwargs = {**(kwargs if kwargs is not None else given), **extra}
        job_id = (self.request.args or [None])[0] if self.name in JOB_TASKS else None
        event(logging.WARNING, "retrying", job_id, self, kind=kind.value, delay_s=round(countdown, 3), error=_text(exc))
        return super().retry(args=args, kwargs=kwargs, exc=exc, throw=throw, eta=eta, countdown=countdown, **options)

    def apply_async(self, args=None, kwargs=None, **options):
        # Flower and the logs then say which job a task serves (its item, model and prompt).
        if args and "argsrepr" not in options and self.name in JOB_TASKS:
            options["argsrepr"] = job_argsrepr(args)
        return super().apply_async(args, kwargs, **options)

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        job_id = args[0] if args else (kwargs or {}).get("job_id")
        if job_id is None or self.name not in JOB_TASKS:
            return
        if retry_kind(exc) is not RetryKind.SCENARIO:
            # An outage that outlasted its budget: the job is left as it is, and the recovery
            # sends it again once things answer; a dead letter would end a job nothing is wrong with.
            log.error("gave up on an outage; the recovery sends it again job_id=%s error=%s", job_id, _text(exc))
            return
        try:
            job = runtime.current().jobs.get(job_id)
            if job is None or job.status.is_final:
                return  # e.g. a worker stopped in the middle of a task whose job had already ended
            reason = DeadLetterReason.PERMANENT_ERROR if is_permanent(exc) else DeadLetterReason.RETRIES_EXHAUSTED
            dead_letter(self, job_id, reason, error_details(exc))
        except Exception:  # the database may be the thing that is down; the recovery comes back to it
            log.exception("could not write the dead letter job_id=%s task_id=%s", job_id, task_id)


def _countdown_s(kind: RetryKind, exc: BaseException | None, proposed_s: float | None, tries: int, settings) -> float:
    cap_s = settings.countdown_cap_s
    retry_after = getattr(_rate_limited(exc) or exc, "retry_after_s", None) if isinstance(exc, WorkerError) else None
    if kind is RetryKind.WAIT:
        return waits.fleet_wait_s(retry_after, hop_s=settings.fleet_hop_s)
    backoff = waits.backoff_s(
        tries, base_s=settings.retry_backoff_s, max_s=settings.retry_backoff_max_s, jitter=settings.retry_jitter
    )
    return waits.retry_wait_s(max(backoff, proposed_s or 0.0), retry_after, cap_s=cap_s)


def _rate_limited(exc: BaseException | None) -> RateLimited | None:
    """The 429 for the request rate behind this error, if one is (a failed lookup carries the 429
    that failed it); a refusal for the plan's parallel limit is a wait for a slot, not one."""
    for error in (exc, getattr(exc, "__cause__", None)):
        if isinstance(error, RateLimited) and not isinstance(error, ParallelLimitReached):
            return error
    return None


def _text(exc: BaseException | None) -> str | None:
    return None if exc is None else (str(exc) or type(exc).__name__)


# The tasks whose first argument is a job id, and whose failure ends that job.
JOB_TASKS = {"scenario.submit_generation", "scenario.poll_job"}
# The tasks that take `waited` and `outage_since`, the retry's own bookkeeping.
KWARG_TASKS = JOB_TASKS | {"scenario.download_batch"}


def slow_the_fleet(exc: RateLimited, countdown_s: float) -> None:
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
    deliveries = rt.jobs.claim_delivery(job_id, delivery_of(task))
    if deliveries > rt.settings.max_deliveries:
        message = f"the same task message was delivered {deliveries} times without finishing; its worker died each time"
        dead_letter(task, job_id, DeadLetterReason.POISON, {"status": None, "code": "POISON", "message": message})
        return None
    remember(job)
    return job


def delivery_of(task: Task) -> str:
    """What names this delivery of the task's message: the same one handed out again means its worker died."""
    return f"{task.request.id}:{task.request.retries}"


def finish(task: Task, job_id: str, status: JobStatus | None, snapshot: dict[str, Any]) -> None:
    """A job Scenario has ended: note a success, dead-letter a failure or a cancel."""
    if status is JobStatus.SUCCESS:
        assets = (snapshot.get("metadata") or {}).get("assetIds") or []
        event(logging.INFO, "succeeded", job_id, task, scenario_job_id=snapshot.get("jobId"), assets=len(assets))
        job_ended(job_id)
        return
    if status is JobStatus.CANCELED and _asked_for(job_id, snapshot):
        return
    reason = DeadLetterReason.JOB_CANCELED if status is JobStatus.CANCELED else DeadLetterReason.JOB_FAILED
    message = (snapshot.get("metadata") or {}).get("error") or f"Scenario ended the job as {snapshot.get('status')}"
    error = {"status": None, "code": str(snapshot.get("status")), "message": str(message)}
    dead_letter(task, job_id, reason, error, snapshot=snapshot)


def _asked_for(job_id: str, snapshot: dict[str, Any]) -> bool:
    """A cancel we asked for that Scenario carried out: the job ends CANCELED, with no dead letter."""
    rt = runtime.current()
    job = rt.jobs.get(job_id)
    if job is None or job.cancel_requested_at is None:
        return False
    rt.jobs.apply_snapshot(job_id, snapshot)
    rt.jobs.mark_status(job_id, JobStatus.CANCELED, error=CANCELED_BY_REQUEST)
    job_ended(job_id)
    return True


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
    job_ended(job_id)  # whatever the reason, the job runs on Scenario no more
    if job.cu_reserved is not None:
        rt.budgets.release_unsent(job_id)
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
    attempt = (task.request.retries or 0) + 1
    parts = [what, f"job_id={job_id}", f"task_id={task.request.id}", f"attempt={attempt}"]
    parts += [f"{k}={v}" for k, v in fields.items() if v is not None]
    # The same ids as fields of the record, for the JSON format (worker/logs.py).
    context = {"job_id": job_id, "task_name": task.name, "task_id": task.request.id, "attempt": attempt}
    context.update(outcome=what, scenario_job_id=fields.get("scenario_job_id"))
    log.log(level, " ".join(parts), extra=context)


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
