"""What one sweep costs and stores: the lists it pages through and the ends it writes, run here,
in the test's process, against the simulator over HTTP, PostgreSQL and Redis, with no worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system
from tests.services import throwaway_database
from tests.tasks.conftest import unsent_job
from worker import enqueue_generation, runtime
from worker.options import JobOptions
from worker.polling import CLOSE_STEP_S, CLOSE_WATCH_S
from worker.simulator import SimulatorConfig
from worker.states import JobStatus
from worker.tasks.submit import submit_generation
from worker.tasks.sweep import PAGE_SIZE, _next_sweep_in_s, _sweep_once, sweep


@pytest.fixture(scope="module")
def instant(redis_url, tmp_path_factory) -> Iterator[System]:
    """0-s renders: a job has ended by the time anyone looks."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=0.0, seed=29)
    with (
        throwaway_database("postgres", tmp_path_factory.mktemp("db")) as database_url,
        running_system(
            database_url=database_url,
            broker_url=redis_url,
            workdir=tmp_path_factory.mktemp("sweep"),
            sim_config=config,
            workers=(),
            SCENARIO_SWEEP_INTERVAL_S="2",
        ) as system,
    ):
        yield system


def _submitted(job_ids: list[str]) -> None:
    for job_id in job_ids:
        submit_generation(job_id)


def _lists(system: System) -> int:
    return sum(system.sim.stats()["requests"].get("list_jobs", {}).values())


def test_a_sweep_stores_every_ended_job_and_stops_paging_once_it_has_found_them_all(instant):
    first = [unsent_job(f"an instant lantern {n}") for n in range(PAGE_SIZE + 20)]
    _submitted(first)
    time.sleep(0.05)
    _sweep_once(sweep, [])
    assert {instant.jobs.get(job_id).status for job_id in first} == {JobStatus.SUCCESS}

    # The cursor's overlap still covers the first jobs' ends, more than a page of them; the new
    # ends come first in the list, so one page finds them all.
    second = [unsent_job(f"a later lantern {n}") for n in range(5)]
    _submitted(second)
    time.sleep(0.05)
    before = _lists(instant)
    _sweep_once(sweep, [])

    assert {instant.jobs.get(job_id).status for job_id in second} == {JobStatus.SUCCESS}
    assert _lists(instant) - before == 1
    assert runtime.current().jobs.unfinished_count() == 0


def test_swept_ends_queue_a_callback_only_for_jobs_that_have_one(instant):
    told = enqueue_generation("a lantern that calls back", options=JobOptions(callback_url="http://127.0.0.1:9/hook"))
    silent = unsent_job("a lantern that does not")
    _submitted([told, silent])
    time.sleep(0.05)
    _sweep_once(sweep, [])

    callbacks = runtime.current().callbacks
    assert instant.jobs.get(told).status is JobStatus.SUCCESS
    assert instant.jobs.get(silent).status is JobStatus.SUCCESS
    assert callbacks.for_job(told) is not None
    assert callbacks.for_job(silent) is None


def test_a_sweep_learns_the_render_time_of_the_jobs_it_saw_end(instant):
    job_id = unsent_job("a lantern that is timed")
    _submitted([job_id])
    time.sleep(0.05)
    _sweep_once(sweep, [])

    model_id = instant.jobs.get(job_id).model_id
    assert instant.jobs.get(job_id).status is JobStatus.SUCCESS
    assert model_id in runtime.current().coordination.render_s()


def test_a_job_recorded_while_a_sweep_ran_is_looked_for_next_at_once_however_long_ago_it_ended(instant):
    earlier = unsent_job("a lantern the sweep looks for")
    _submitted([earlier])
    time.sleep(0.05)
    looked: set[str] = set()
    _sweep_once(sweep, [], looked)
    assert looked == {earlier}

    unlooked = unsent_job("a lantern recorded behind the sweep's back")
    _submitted([unlooked])
    time.sleep(CLOSE_WATCH_S + 0.2)  # its end came due long ago: late, were it looked for and missed

    assert instant.jobs.get(unlooked).status is not JobStatus.SUCCESS
    assert _next_sweep_in_s(set(), looked) == pytest.approx(CLOSE_STEP_S)
    assert _next_sweep_in_s(set(), {unlooked}) == pytest.approx(2.0)
