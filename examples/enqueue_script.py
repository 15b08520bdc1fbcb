"""Enqueue a few generations from a plain script, with job options, and read them back.

    python examples/enqueue_script.py "a red fox icon"

The settings come from the environment (DATABASE_URL, CELERY_BROKER_URL, SCENARIO_API_KEY,
SCENARIO_API_SECRET), or from code: set EXAMPLE_DATABASE_URL to see `configure(...)` used.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone

import worker
from worker import (
    IdempotencyConflict,
    InputError,
    JobNotFound,
    JobOptions,
    JobView,
    WorkerError,
    enqueue_generation,
    enqueue_many,
    get_job,
)


def main(argv: list[str]) -> int:
    prompt = argv[1] if len(argv) > 1 else "a red fox icon, flat colors"
    database_url = os.environ.get("EXAMPLE_DATABASE_URL")
    if database_url:
        worker.configure(database_url=database_url, broker_url=os.environ.get("CELERY_BROKER_URL"))
    options = JobOptions(
        idempotency_key=f"example/{abs(hash(prompt))}",
        tags=["example"],
        metadata={"source": "enqueue_script"},
        priority=3,
        deadline_s=900,
    )
    try:
        job_id = enqueue_generation(prompt, width=512, height=512, options=options)
        later = enqueue_many(
            [{"prompt": f"{prompt}, variant {n}"} for n in range(2)],
            options=JobOptions(
                tags=["example", "variants"], not_before=datetime.now(timezone.utc) + timedelta(minutes=1)
            ),
        )
    except InputError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except IdempotencyConflict as exc:
        print(f"the key is taken by job {exc.job_id}: {exc}", file=sys.stderr)
        return 2
    except WorkerError as exc:
        print(f"could not enqueue ({'try again' if exc.retryable else 'giving up'}): {exc}", file=sys.stderr)
        return 1
    for queued in [job_id, *later]:
        show(get_job(queued))
    try:
        get_job("no-such-job")
    except JobNotFound as exc:
        print(f"as expected: {exc}")
    return 0


def show(job: JobView) -> None:
    print(f"{job.id} {job.status.value} tags={','.join(job.tags)} priority={job.priority} metadata={job.metadata}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
