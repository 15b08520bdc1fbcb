"""What application code calls: enqueue a generation, read a job back."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from worker import runtime
from worker.db.jobs import JobView
from worker.generation import DEFAULT_MODEL_ID, GenerationRequest
from worker.states import JobStatus

log = logging.getLogger("worker.producer")


def enqueue_generation(
    prompt: str,
    *,
    model_id: str = DEFAULT_MODEL_ID,
    width: int = 1024,
    height: int = 1024,
    num_samples: int = 1,
    guidance: float | None = None,
    num_inference_steps: int | None = None,
    negative_prompt: str | None = None,
    seed: int | None = None,
    deadline_s: float | None = None,
) -> str:
    """Check the parameters, record the job and queue it; return the job's id.

    `deadline_s` bounds how long the job may take from now, queueing included
    (default: SCENARIO_JOB_DEADLINE_S from its submission). Raises ValueError
    naming the field when a parameter is wrong; nothing is recorded or queued then.
    """
    if deadline_s is not None and (isinstance(deadline_s, bool) or not isinstance(deadline_s, (int, float)) or deadline_s <= 0):
        raise ValueError(f"deadline_s: must be a number of seconds greater than 0, got {deadline_s!r}")
    request = GenerationRequest(
        prompt=prompt,
        model_id=model_id,
        width=width,
        height=height,
        num_samples=num_samples,
        guidance=guidance,
        num_inference_steps=num_inference_steps,
        negative_prompt=negative_prompt,
        seed=seed,
    )
    deadline_at = None if deadline_s is None else datetime.now(timezone.utc) + timedelta(seconds=deadline_s)
    return enqueue_request(request, deadline_at=deadline_at).id


def enqueue_request(
    request: GenerationRequest,
    *,
    batch_id: str | None = None,
    item_key: str | None = None,
    deadline_at: datetime | None = None,
    job_id: str | None = None,
    item_name: str | None = None,
    tags: Sequence[str] = (),
) -> JobView:
    """Record a checked request as a job and queue its submission; `job_id` picks the job's id."""
    from worker.tasks import submit_generation

    rt = runtime.current()
    job = rt.jobs.create(
        model_id=request.model_id,
        params=request.to_params(),
        batch_id=batch_id,
        item_key=item_key,
        deadline_at=deadline_at,
        job_id=job_id,
        item_name=item_name,
        tags=tags,
    )
    try:
        submit_generation.apply_async((job.id,))
    except Exception as exc:
        # The caller learns of it now; the row must not look queued to anyone else.
        rt.jobs.mark_status(
            job.id, JobStatus.DEAD, error={"status": None, "code": "NOT_QUEUED", "message": f"could not be queued: {exc}"}
        )
        raise
    log.info("enqueued job_id=%s model_id=%s", job.id, request.model_id)
    return job


def get_job(job_id: str) -> JobView | None:
    """The job as stored now: status, Scenario's status history, asset ids, last error."""
    return runtime.current().jobs.get(job_id)
