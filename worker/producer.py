"""What application code calls: enqueue a generation, read a job back, cancel it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from worker import runtime
from worker.cancellation import CancelOutcome, CancelResult, cancel_on_scenario, result_of
from worker.db.claims import CancelStep
from worker.db.jobs import JobNotFound, JobView, NewJob
from worker.dispatch import job_ended, send_submit
from worker.errors import WorkerError
from worker.generation import DEFAULT_MODEL_ID, GenerationRequest
from worker.labels import remember
from worker.options import JobOptions, deadline_problem
from worker.states import JobStatus

log = logging.getLogger("worker.producer")


def enqueue_generation(
    prompt: str | None = None,
    *,
    model_id: str = DEFAULT_MODEL_ID,
    inputs: Mapping[str, Any] | None = None,
    deadline_s: float | None = None,
    options: JobOptions | None = None,
    **named_inputs: Any,
) -> str:
    """Check the inputs, record the job and queue it; return the job's id.

    Any input the model declares can be given by name, in snake_case
    (`aspect_ratio="16:9"`) or camelCase, or all at once as `inputs={...}`; a
    file input may be an asset id or a local image path (uploaded once). The
    inputs are checked against the model's own schema before anything is
    recorded; the model's defaults are filled in and, for a model that takes a
    seed, one is chosen when none is given.

    `deadline_s` bounds how long the job may take from now, queueing included
    (default: SCENARIO_JOB_DEADLINE_S from its submission). Raises ValueError
    naming the field when an input is wrong; nothing is recorded or queued then.

    `options` (`worker.options.JobOptions`) steer the job itself; its `callback_url` is told
    when the job ends (worker/callbacks).
    """
    if options is not None and not isinstance(options, JobOptions):
        raise ValueError(f"options: must be a JobOptions, got {type(options).__name__}")
    if deadline_s is not None:
        _check_deadline(deadline_s)
    request = GenerationRequest(prompt, model_id=model_id, inputs=inputs, **named_inputs)
    deadline_at = None if deadline_s is None else datetime.now(timezone.utc) + timedelta(seconds=deadline_s)
    return enqueue_request(request, deadline_at=deadline_at, options=options).id


def _check_deadline(deadline_s: Any) -> None:
    problem = deadline_problem(deadline_s)
    if problem:
        raise ValueError(f"deadline_s: {problem}")


def enqueue_request(
    request: GenerationRequest,
    *,
    batch_id: str | None = None,
    item_key: str | None = None,
    deadline_at: datetime | None = None,
    job_id: str | None = None,
    item_name: str | None = None,
    tags: Sequence[str] = (),
    prepared: bool = False,
    options: JobOptions | None = None,
) -> JobView:
    """Record a request as a job and queue its submission; `job_id` picks the job's id.

    The request is first made ready to send (`worker.preflight`), unless `prepared` says
    the caller did so already.
    """
    rt = runtime.current()
    if not prepared and rt.preflight is not None:
        request = rt.preflight.prepare(request)
    job = rt.jobs.create(
        model_id=request.model_id,
        params=request.to_params(),
        batch_id=batch_id,
        item_key=item_key,
        deadline_at=deadline_at,
        job_id=job_id,
        item_name=item_name,
        tags=tuple(tags) + tuple(options.tags if options else ()),
        callback_url=options.callback_url if options else None,
        metadata=options.metadata if options else None,
    )
    remember(job)
    try:
        send_submit(job.id, batch_id)
    except Exception as exc:
        # The caller learns of it now; the row must not look queued to anyone else.
        rt.jobs.mark_status(
            job.id,
            JobStatus.DEAD,
            error={"status": None, "code": "NOT_QUEUED", "message": f"could not be queued: {exc}"},
        )
        raise
    log.info("enqueued job_id=%s model_id=%s", job.id, request.model_id)
    return job


# Jobs recorded (one INSERT) and published (on one broker connection) at a time by the bulk path.
QUEUE_CHUNK = 1_000

# Told (jobs queued so far, jobs to queue) after each chunk.
Progress = Callable[[int, int], None]


class EnqueueInterrupted(WorkerError):
    """The broker failed part way through a bulk enqueue; `queued` holds the jobs that went out."""

    def __init__(self, message: str, queued: list[str]) -> None:
        super().__init__(message)
        self.queued = queued


def enqueue_many(
    requests: Iterable[GenerationRequest | Mapping[str, Any]],
    *,
    deadline_s: float | None = None,
    on_progress: Progress | None = None,
) -> list[str]:
    """Check every request, then record and queue them all in bulk; the job ids, in order.

    A request is a `GenerationRequest` or a mapping of `enqueue_generation`'s arguments
    (`{"prompt": ..., "model_id": ..., "width": 512}`). Every one is made ready first
    (schema, uploads, seed); a bad one raises ValueError naming its index
    (`requests[3]: width: ...`) and nothing is recorded or queued.
    """
    if deadline_s is not None:
        _check_deadline(deadline_s)
    preflight = runtime.current().preflight
    ready = []
    for index, given in enumerate(requests):
        try:
            request = given if isinstance(given, GenerationRequest) else _request_of(given)
            ready.append(preflight.prepare(request) if preflight is not None else request)
        except ValueError as exc:
            raise ValueError(f"requests[{index}]: {exc}") from None
    deadline_at = None if deadline_s is None else datetime.now(timezone.utc) + timedelta(seconds=deadline_s)
    rows = [NewJob(model_id=r.model_id, params=r.to_params(), deadline_at=deadline_at) for r in ready]
    return queue_new_jobs(rows, on_progress=on_progress)


def _request_of(given: Mapping[str, Any]) -> GenerationRequest:
    if not isinstance(given, Mapping):
        raise ValueError(f"must be a GenerationRequest or a mapping of inputs, got {type(given).__name__}")
    named = dict(given)
    return GenerationRequest(named.pop("prompt", None), model_id=named.pop("model_id", DEFAULT_MODEL_ID), **named)


def queue_new_jobs(rows: Sequence[NewJob], *, on_progress: Progress | None = None) -> list[str]:
    """Record new jobs, one INSERT per chunk, and publish their submits on one broker connection.

    Each chunk's rows are written before its messages go, so a worker always finds its job.
    Raises EnqueueInterrupted when the broker fails: that chunk's unsent jobs are marked
    dead (NOT_QUEUED), later chunks are not recorded at all.
    """
    rt = runtime.current()
    queued: list[str] = []
    for start in range(0, len(rows), QUEUE_CHUNK):
        chunk = rows[start : start + QUEUE_CHUNK]
        rt.jobs.create_many(chunk)
        queued.extend(_publish_submits(chunk, queued))
        if on_progress is not None:
            on_progress(len(queued), len(rows))
    log.info("enqueued %d jobs in bulk", len(queued))
    return queued


def _publish_submits(chunk: Sequence[NewJob], queued: list[str]) -> list[str]:
    from worker.celery_app import app

    try:
        # One connection for the whole chunk, and on Redis one pipelined round trip for all its
        # messages (kombu's publish batch; a broker without batches publishes each at once).
        with app.producer_or_acquire() as producer, producer.batch(max_size=_PUBLISH_BATCH_OPS):
            for row in chunk:
                send_submit(row.job_id, row.batch_id, producer=producer)
    except Exception as exc:
        # Nothing of a failed batch counts as sent; a message that went out all the same finds
        # its job dead and does nothing. The rows must not look queued to anyone else.
        error = {"status": None, "code": "NOT_QUEUED", "message": f"could not be queued: {exc}"}
        for row in chunk:
            runtime.current().jobs.mark_status(row.job_id, JobStatus.DEAD, error=error)
        raise EnqueueInterrupted(
            f"the broker failed after {len(queued)} of the jobs were queued: {exc}", list(queued)
        ) from exc
    return [row.job_id for row in chunk]


# Broker operations buffered per pipeline flush: a chunk's messages and their sent events in one go.
_PUBLISH_BATCH_OPS = 4 * QUEUE_CHUNK


def get_job(job_id: str) -> JobView | None:
    """The job as stored now: status, Scenario's status history, asset ids, last error."""
    return runtime.current().jobs.get(job_id)


def cancel_job(job_id: str, *, wait_s: float = 10.0) -> CancelResult:
    """Cancel a job, and say truthfully what became of it.

    The cancel competes for the job's row with its sender. Before any submit holds the row
    it ends the job and nothing is ever sent (CANCELED_LOCALLY). While a submit is in
    flight it leaves a request the sender carries out on Scenario as soon as it has the
    Scenario job; this call waits up to `wait_s` for that and otherwise answers REQUESTED.
    A job on Scenario is canceled there (CANCELED, with any refund in its units); one that
    Scenario finished first keeps its result and cost (ALREADY_FINAL).

    Raises JobNotFound for an unknown id, and ScenarioError when Scenario refuses or cannot
    be reached (the job is then left as it was).
    """
    rt = runtime.current()
    step = rt.jobs.request_cancel(job_id)
    if step is CancelStep.ENDED:
        job_ended(job_id)  # it may have held one, or waited for one
        return result_of(_reload(job_id))
    if step is CancelStep.REQUESTED:
        return _settled_by_the_sender(job_id, wait_s)
    job = _reload(job_id)
    if step is CancelStep.FINAL or job.scenario_job_id is None:
        return CancelResult(job_id, CancelOutcome.ALREADY_FINAL, job.status, job.scenario_job_id)
    result = cancel_on_scenario(job)
    if result.status.is_final:
        job_ended(job_id)
    return result


def _settled_by_the_sender(job_id: str, wait_s: float) -> CancelResult:
    """Wait a while for the sender holding the job to carry out the cancel request."""
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        job = _reload(job_id)
        if job.is_final:
            return result_of(job)
        if time.monotonic() >= deadline:
            return CancelResult(job_id, CancelOutcome.REQUESTED, job.status, job.scenario_job_id)
        time.sleep(0.1)


def _reload(job_id: str) -> JobView:
    job = runtime.current().jobs.get(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job
