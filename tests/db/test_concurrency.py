"""Workers racing on one row: each write must land exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from tests.db.conftest import FLUX_PARAMS, scenario_job
from worker.db.jobs import JobRepository
from worker.states import JobStatus

T = TypeVar("T")


def race(n: int, action: Callable[[int], T]) -> list[T]:
    """Run `action(i)` in n threads released at the same moment; their results in thread order."""
    barrier = threading.Barrier(n)
    results: list[T | None] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results  # type: ignore[return-value]


def submitted_job(jobs: JobRepository) -> str:
    job = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS)
    jobs.record_submitted(job.id, scenario_job("job_first", status="queued"))
    return job.id


def test_two_pollers_with_the_same_poll_seq_apply_exactly_once(jobs):
    job_id = submitted_job(jobs)
    snapshots = [scenario_job("job_first", status="in-progress"), scenario_job("job_first", status="finalizing")]

    applied = race(2, lambda i: jobs.apply_snapshot(job_id, snapshots[i], expected_poll_seq=0))

    assert sorted(applied) == [False, True]
    view = jobs.get(job_id)
    assert (view.poll_seq, view.polls) == (1, 1)
    winner = snapshots[applied.index(True)]["status"]
    assert view.scenario_status == winner


def test_racing_deliveries_of_one_task_are_each_counted(jobs):
    job_id = submitted_job(jobs)

    counts = race(4, lambda i: jobs.claim_delivery(job_id, "task-1"))

    assert sorted(counts) == [1, 2, 3, 4]
    assert jobs.get(job_id).deliveries == 4


def test_racing_dead_letters_of_one_job_make_one_letter(jobs, letters):
    job_id = submitted_job(jobs)

    made = race(
        3,
        lambda i: jobs.dead_letter(job_id, reason="poison", task_name=f"task-{i}", payload={}, error=None, attempts=i),
    )

    assert len({letter.id for letter in made}) == 1
    assert len(letters.list()) == 1
    assert jobs.get(job_id).status is JobStatus.DEAD
