"""Single jobs are watched by the shared sweep once enough are unfinished; a few keep their own polls."""

from __future__ import annotations

import time

import pytest

from tests.harness import wait_until
from tests.scale.conftest import api_requests
from worker import enqueue_generation, enqueue_many
from worker.states import JobStatus
from worker.tasks.sweep import keep_sweeping

SINGLE_JOBS = 50


def test_50_single_jobs_cost_at_most_one_and_a_half_requests_each_with_the_sweep_on(scale_system):
    before = api_requests(scale_system)
    lists_before = api_requests(scale_system, ("list_jobs",))

    ids = [enqueue_generation(f"a swept lantern {n}", width=256, height=256) for n in range(SINGLE_JOBS)]
    finished = lambda: all(scale_system.jobs.get(i).status.is_final for i in ids)  # noqa: E731
    wait_until(finished, 90, "every single job to finish", every_s=0.5)

    spent = api_requests(scale_system) - before
    lists = api_requests(scale_system, ("list_jobs",)) - lists_before
    print(f"\n{SINGLE_JOBS} single jobs: {spent} API requests ({lists} list calls), {spent / SINGLE_JOBS:.2f} per job")
    assert all(scale_system.jobs.get(i).status is JobStatus.SUCCESS for i in ids)
    assert lists > 0
    assert spent / SINGLE_JOBS <= 1.5


def test_jobs_queued_in_bulk_run_to_the_end(scale_system):
    ids = enqueue_many([{"prompt": f"a bulk lantern {n}", "width": 256, "height": 256} for n in range(10)])

    finished = lambda: all(scale_system.jobs.get(i).status.is_final for i in ids)  # noqa: E731
    wait_until(finished, 60, "the bulk jobs to finish", every_s=0.5)

    assert {scale_system.jobs.get(i).status for i in ids} == {JobStatus.SUCCESS}


def test_two_single_jobs_keep_their_own_polls_and_no_sweep_lists_for_them(scale_system):
    wait_until(lambda: scale_system.jobs.unfinished_count() == 0, 60, "earlier jobs to finish")
    # A sweep already armed may run once more and find nothing worth another.
    wait_until(lambda: _lists_settle(scale_system), 20, "the sweep to stop", every_s=0.1)
    lists_before = api_requests(scale_system, ("list_jobs",))
    polls_before = api_requests(scale_system, ("get_job",))

    ids = [enqueue_generation(f"a lone lantern {n}", width=256, height=256) for n in range(2)]
    jobs = [scale_system.wait_for(i, timeout_s=30) for i in ids]

    assert [job.status for job in jobs] == [JobStatus.SUCCESS, JobStatus.SUCCESS]
    assert api_requests(scale_system, ("list_jobs",)) == lists_before
    assert api_requests(scale_system, ("get_job",)) > polls_before


def _lists_settle(system, quiet_s: float = 5.0) -> bool:
    before = api_requests(system, ("list_jobs",))
    time.sleep(quiet_s)
    return api_requests(system, ("list_jobs",)) == before


@pytest.mark.parametrize(
    ("batch_jobs", "single_jobs", "sweep_from", "expected"),
    [
        (0, 0, 8, False),
        (0, 7, 8, False),
        (0, 8, 8, True),
        (0, 500, 8, True),
        (1, 0, 8, True),
        (3, 2, 8, True),
        (0, 1, 1, True),
    ],
)
def test_the_sweep_goes_on_for_any_batch_job_or_enough_single_jobs(batch_jobs, single_jobs, sweep_from, expected):
    assert keep_sweeping(batch_jobs=batch_jobs, single_jobs=single_jobs, sweep_from=sweep_from) is expected
