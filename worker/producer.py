"""What application code calls: enqueue a generation, read a job back, cancel it."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from worker import runtime
from worker.cancellation import CancelOutcome, CancelResult, cancel_on_scenario, result_of
from worker.db.claims import CancelStep
from worker.db.jobs import JobView, NewJob, StoredOptions
from worker.dispatch import job_ended, park_batch_items, send_submit
from worker.edge import at_the_edge, broker_error
from worker.errors import BrokerUnavailable, IdempotencyConflict, InputError, JobNotFound, WorkerError
from worker.generation import DEFAULT_MODEL_ID, GenerationRequest, camel
from worker.labels import remember
from worker.options import OPTION_WORDS, JobOptions, differences, misplaced_option, request_digest
from worker.states import JobStatus

log = logging.getLogger("worker.producer")


def enqueue_generation(
    prompt: str | None = None,
    *,
    model_id: str = DEFAULT_MODEL_ID,
    inputs: Mapping[str, Any] | None = None,
    options: JobOptions | None = None,
    deadline_s: float | None = None,
    **named_inputs: Any,
) -> str:
    """Check the inputs, record the job and queue it; return the job's id.

    Any input the model declares can be given by name, in snake_case
    (`aspect_ratio="16:9"`) or camelCase, or all at once as `inputs={...}`; a
    file input may be an asset id or a local image path (uploaded once). The
    inputs are checked against the model's own schema before anything is
    recorded; the model's defaults are filled in and, for a model that takes a
    seed, one is chosen when none is given.

    How the job is run is given apart, as `options=JobOptions(...)`: an idempotency key,
    tags, metadata, a priority, a time before which it is not sent, a deadline, a callback
    URL. `deadline_s=` is the same as `options=JobOptions(deadline_s=...)` (default:
    SCENARIO_JOB_DEADLINE_S from its submission).

    Raises InputError (a ValueError) naming the field when an input or option is wrong,
    IdempotencyConflict when the key names a job made for another request, BrokerUnavailable
    or DatabaseUnavailable when those do not answer; nothing is recorded or queued then.
    Enqueued again with the same key and the same request, it returns the first job's id.
    """
    with at_the_edge():
        job_options = _with_deadline(options, deadline_s)
        request = _request(prompt, model_id, inputs, named_inputs)
        return enqueue_request(request, options=job_options).id


def _with_deadline(options: JobOptions | None, deadline_s: float | None) -> JobOptions:
    if options is not None and not isinstance(options, JobOptions):
        raise InputError("options", [f"options: must be a JobOptions, got {type(options).__name__}"])
    options = options or JobOptions()
    if deadline_s is None:
        return options
    if options.deadline_s is not None:
        raise InputError("options", ["deadline_s: is given twice (also in options); keep one"])
    try:
        return replace(options, deadline_s=deadline_s)
    except ValueError as exc:
        raise InputError("options", [str(exc).removeprefix("options.")]) from None


def _request(
    prompt: str | None, model_id: str, inputs: Mapping[str, Any] | None, named_inputs: Mapping[str, Any]
) -> GenerationRequest:
    """The generation asked for; a job option given among the model's inputs is refused by name."""
    for name in named_inputs:
        if name in OPTION_WORDS and not _model_declares(model_id, name):
            raise InputError(model_id, [misplaced_option(name)])
    try:
        return GenerationRequest(prompt, model_id=model_id, inputs=inputs, **named_inputs)
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(model_id, [str(exc)]) from None


def _model_declares(model_id: str, name: str) -> bool:
    """Whether the model really takes an input of this name (a model may call one `priority`)."""
    preflight = runtime.current().preflight
    if preflight is None:
        return False
    try:
        schema = preflight.catalogue.schema(model_id)
    except (WorkerError, ValueError):
        return False  # not known now: the name is taken for the option, which is what it most likely is
    return schema.input(camel(name)) is not None


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
    digest: str | None = None,
) -> JobView:
    """Record a request as a job and queue its submission; `job_id` picks the job's id.

    The request is first made ready to send (`worker.preflight`), unless `prepared` says
    the caller did so already. `options` are stored on the row; their deadline counts from now
    (`deadline_at` is for callers that fixed one already). With an idempotency key, a job the
    key names already is returned (and nothing is queued) when it was made for the same request;
    `digest` is that request's `request_digest` as given, for a caller that prepared it already.
    """
    rt = runtime.current()
    options = options or JobOptions()
    if options.idempotency_key is not None and digest is None:
        digest = request_digest(request.model_id, request.inputs, options)
    if options.idempotency_key is not None:
        # A retried call finds its job before paying for a schema lookup or an upload again.
        earlier = rt.jobs.find_by_idempotency_key(options.idempotency_key)
        if earlier is not None:
            return _same_request(earlier, request, options, digest)
    if not prepared and rt.preflight is not None:
        request = rt.preflight.prepare(request)
    if options.deadline_s is not None:
        deadline_at = _now() + timedelta(seconds=options.deadline_s)
    new_id = job_id or uuid.uuid4().hex
    job = rt.jobs.create(
        model_id=request.model_id,
        params=request.to_params(),
        batch_id=batch_id,
        item_key=item_key,
        deadline_at=deadline_at,
        job_id=new_id,
        item_name=item_name,
        tags=[*tags, *options.tags],
        options=stored_options(options, digest),
        fresh_id=job_id is None,
    )
    if options.idempotency_key is not None and job.id != new_id:
        # Another caller's row won the key (the unique index decided): that call queues it.
        return _same_request(job, request, options, digest)
    remember(job)
    try:
        send_submit(job.id, batch_id, countdown_s=_due_in_s(options.not_before))
    except Exception as exc:
        # The caller learns of it now; the row must not look queued to anyone else.
        rt.jobs.mark_status(
            job.id,
            JobStatus.DEAD,
            error={"status": None, "code": "NOT_QUEUED", "message": f"could not be queued: {exc}"},
        )
        if options.idempotency_key is not None:
            # The caller retries with the same key once the broker is back: it must get a job that runs.
            rt.jobs.release_idempotency_key(job.id)
        raise broker_error(exc) from exc
    log.info("enqueued job_id=%s model_id=%s", job.id, request.model_id)
    return job


def _same_request(job: JobView, request: GenerationRequest, options: JobOptions, digest: str | None) -> JobView:
    """The job an idempotency key names, if it was made for this very request; IdempotencyConflict if not."""
    if job.request_digest == digest:
        log.info("idempotency key matched job_id=%s", job.id)
        return job
    stored = {
        "model_id": job.model_id,
        "tags": job.tags,
        "metadata": job.job_metadata,
        "priority": job.priority,
        "not_before": job.not_before,
        "callback_url": job.callback_url,
    }
    raise IdempotencyConflict(str(options.idempotency_key), job.id, differences(stored, request.model_id, options))


def stored_options(options: JobOptions, digest: str | None = None) -> StoredOptions:
    return StoredOptions(
        idempotency_key=options.idempotency_key,
        request_digest=digest,
        metadata=options.metadata,
        priority=options.priority,
        not_before=options.not_before,
        callback_url=options.callback_url,
    )


def _due_in_s(not_before: datetime | None) -> float:
    return 0.0 if not_before is None else max(0.0, (not_before - _now()).total_seconds())


def _now() -> datetime:
    return datetime.now(timezone.utc)


# Jobs recorded (one INSERT) and published (on one broker connection) at a time by the bulk path.
QUEUE_CHUNK = 1_000

# Told (jobs queued so far, jobs to queue) after each chunk.
Progress = Callable[[int, int], None]


class EnqueueInterrupted(BrokerUnavailable):
    """The broker failed part way through a bulk enqueue; `queued` holds the jobs that went out."""

    def __init__(self, message: str, queued: list[str]) -> None:
        super().__init__(message)
        self.queued = queued

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.queued))


# One request of `enqueue_many`: a GenerationRequest, a mapping of `enqueue_generation`'s
# arguments (its "options" key a JobOptions), or either paired with its JobOptions.
ManyRequest = GenerationRequest | Mapping[str, Any] | tuple[GenerationRequest | Mapping[str, Any], JobOptions]


def enqueue_many(
    requests: Iterable[ManyRequest],
    *,
    options: JobOptions | None = None,
    deadline_s: float | None = None,
    on_progress: Progress | None = None,
) -> list[str]:
    """Check every request, then record and queue them all in bulk; the job ids, in order.

    A request is a `GenerationRequest` or a mapping of `enqueue_generation`'s arguments
    (`{"prompt": ..., "model_id": ..., "width": 512, "options": JobOptions(...)}`), or either
    as `(request, JobOptions(...))`. `options` apply to every request that brings none of its
    own. Every one is made ready first (schema, uploads, seed); a bad one raises InputError
    naming its index (`requests[3]: width: ...`) and nothing is recorded or queued.

    Requests with an idempotency key are recorded one at a time (the key decides each), the
    rest with one INSERT per 1,000; an existing key for the same request gives its job's id.
    """
    with at_the_edge():
        common = _with_deadline(options, deadline_s)
        preflight = runtime.current().preflight
        ready: list[tuple[GenerationRequest, JobOptions, str | None]] = []
        for index, given in enumerate(requests):
            try:
                request, own = _request_and_options(given, common)
                # Taken as given: a seed chosen below must not make the same request look new.
                digest = request_digest(request.model_id, request.inputs, own) if own.idempotency_key else None
                ready.append((preflight.prepare(request) if preflight is not None else request, own, digest))
            except ValueError as exc:
                raise InputError(getattr(exc, "model_id", "requests"), [f"requests[{index}]: {exc}"]) from None
        return _queue_ready(ready, on_progress=on_progress)


def _request_and_options(given: ManyRequest, common: JobOptions) -> tuple[GenerationRequest, JobOptions]:
    if isinstance(given, tuple):
        if len(given) != 2 or not isinstance(given[1], JobOptions):
            raise ValueError("a pair must be (request, JobOptions(...))")
        request, _ = _request_and_options(given[0], common)
        return request, given[1]
    if isinstance(given, GenerationRequest):
        return given, common
    if not isinstance(given, Mapping):
        raise ValueError(f"must be a GenerationRequest or a mapping of inputs, got {type(given).__name__}")
    named = dict(given)
    own = named.pop("options", None)
    if own is not None and not isinstance(own, JobOptions):
        raise ValueError(f"options: must be a JobOptions, got {type(own).__name__}")
    prompt = named.pop("prompt", None)
    model_id = named.pop("model_id", DEFAULT_MODEL_ID)
    inputs = named.pop("inputs", None)
    return _request(prompt, model_id, inputs, named), own or common


def _queue_ready(
    ready: Sequence[tuple[GenerationRequest, JobOptions, str | None]], *, on_progress: Progress | None
) -> list[str]:
    ids: list[str | None] = [None] * len(ready)
    rows: list[NewJob] = []
    at: list[int] = []
    for request, options, digest in ready:
        # A key already taken by another request is refused before anything of the call is recorded.
        if options.idempotency_key is not None:
            earlier = runtime.current().jobs.find_by_idempotency_key(options.idempotency_key)
            if earlier is not None:
                _same_request(earlier, request, options, digest)
    for index, (request, options, digest) in enumerate(ready):
        if options.idempotency_key is not None:
            ids[index] = enqueue_request(request, options=options, prepared=True, digest=digest).id
            continue
        deadline_at = None if options.deadline_s is None else _now() + timedelta(seconds=options.deadline_s)
        rows.append(
            NewJob(
                model_id=request.model_id,
                params=request.to_params(),
                deadline_at=deadline_at,
                tags=tuple(options.tags),
                options=stored_options(options),
            )
        )
        at.append(index)
    for index, job_id in zip(at, queue_new_jobs(rows, on_progress=on_progress), strict=True):
        ids[index] = job_id
    return [job_id for job_id in ids if job_id is not None]


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
        # Under a cap, a batch's items wait for their turns in the fleet's waiting list, and only
        # those a slot admits go to the broker now: a thousand-item library queues a few messages.
        to_send = park_batch_items(chunk, items=_batch_items(chunk))
        queued.extend(_publish_submits(chunk, to_send, queued))
        if on_progress is not None:
            on_progress(len(queued), len(rows))
    log.info("enqueued %d jobs in bulk", len(queued))
    return queued


def _batch_items(chunk: Sequence[NewJob]) -> int | None:
    """How many items the chunk's batch has (its share of the slots); None for jobs of no one batch."""
    batch_ids = {row.batch_id for row in chunk}
    if len(batch_ids) != 1 or None in batch_ids:
        return None
    batch = runtime.current().batches.get(str(next(iter(batch_ids))))
    return None if batch is None else batch.item_count


def _publish_submits(chunk: Sequence[NewJob], to_send: Sequence[NewJob], queued: list[str]) -> list[str]:
    from worker.celery_app import app

    try:
        # One connection for the whole chunk, and on Redis one pipelined round trip for all its
        # messages (kombu's publish batch; a broker without batches publishes each at once).
        with app.producer_or_acquire() as producer, producer.batch(max_size=_PUBLISH_BATCH_OPS):
            for row in to_send:
                send_submit(row.job_id, row.batch_id, producer=producer, countdown_s=_due_in_s(row.options.not_before))
    except Exception as exc:
        # Nothing of a failed batch counts as sent; a message that went out all the same finds
        # its job dead and does nothing. The rows must not look queued to anyone else.
        error = {"status": None, "code": "NOT_QUEUED", "message": f"could not be queued: {exc}"}
        for row in chunk:
            runtime.current().jobs.mark_status(row.job_id, JobStatus.DEAD, error=error)
        raise EnqueueInterrupted(f"{exc} (after {len(queued)} of the jobs were queued)", list(queued)) from exc
    return [row.job_id for row in chunk]


# Broker operations buffered per pipeline flush: a chunk's messages and their sent events in one go.
_PUBLISH_BATCH_OPS = 4 * QUEUE_CHUNK


def get_job(job_id: str) -> JobView:
    """The job as stored now: status, Scenario's status history, asset ids, last error, options.

    Raises JobNotFound for an unknown id, as `cancel_job` does.
    """
    with at_the_edge():
        return _reload(job_id)


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
    with at_the_edge():
        return _cancel(job_id, wait_s)


def _cancel(job_id: str, wait_s: float) -> CancelResult:
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
