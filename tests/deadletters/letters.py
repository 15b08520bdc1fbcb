"""Dead letters made for real: a job goes through the worker and the simulator refuses or fails it."""

from __future__ import annotations

import uuid

from worker import runtime
from worker.db.batches import BatchRepository
from worker.db.views import DeadLetterView
from worker.generation import GenerationRequest
from worker.producer import enqueue_request

QUICK_JOB_S = 0.2


def quick(system, prompt: str) -> str:
    """Let Scenario finish jobs with this prompt in a moment, so waiting for a success stays short."""
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=QUICK_JOB_S)
    return prompt


def refused_once(system, prompt: str, *, status: int = 400, code: str | None = None, **enqueue) -> str:
    """Enqueue a generation whose first submit the simulator refuses; returns the job id.

    A replay of it then succeeds, and quickly.
    """
    quick(system, prompt)
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=status, code=code, times=1)
    return enqueue_request(GenerationRequest(prompt=prompt), **enqueue).id


def failing(system, prompt: str, error: str = "NSFW content detected") -> str:
    """Enqueue a generation that Scenario accepts and then fails; returns the job id."""
    system.sim.faults.fail_jobs(prompt_contains=prompt, error=error, times=1)
    return enqueue_request(GenerationRequest(prompt=prompt)).id


def forbidden(system, prompt: str) -> str:
    """Enqueue a generation that Scenario refuses with 403 (e.g. its plan may not use the model); returns the job id.

    A model the key may not use at all is refused at enqueue time, before any job exists.
    """
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=403, times=1)
    return enqueue_request(GenerationRequest(prompt=prompt)).id


def letters_for(system, *job_ids: str) -> list[DeadLetterView]:
    """Wait for each job to end, then its dead letter, in the order given."""
    found = []
    for job_id in job_ids:
        system.wait_for(job_id)
        letter = system.dead_letters.get_for_job(job_id)
        assert letter is not None, f"job {job_id} ended {system.jobs.get(job_id).status} without a dead letter"
        found.append(letter)
    return found


def new_batch(items: int = 1) -> str:
    """A batch row for jobs to belong to; returns its id."""
    batch, _ = BatchRepository(runtime.current().database).open(
        name=f"test-{uuid.uuid4().hex[:12]}", source="tests", out_dir=None, item_count=items
    )
    return batch.id


def unique(text: str) -> str:
    """A prompt no other test uses, so simulator rules and counts are this test's alone."""
    return f"{text} {uuid.uuid4().hex[:8]}"


def submissions(system, prompt: str) -> int:
    return system.sim.stats()["submissions_by_prompt"].get(prompt, 0)
