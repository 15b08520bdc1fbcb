"""Single jobs on a worker that was given no PROMETHEUS_MULTIPROC_DIR: its pool processes count into
a directory of its own, its page agrees with the database, and the directory goes when it stops."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import KEY, ON_POSTGRES, SECRET
from tests.harness import System, free_port, running_system, wait_until
from tests.metrics.scrape import scrape, total
from worker import enqueue_generation, lanes, runtime
from worker.db.models import DeadLetterReason
from worker.simulator import SimulatorConfig
from worker.states import JobStatus

pytestmark = ON_POSTGRES

JOBS = 4


@pytest.fixture(scope="module")
def single(backend_url, redis_url, tmp_path_factory) -> Iterator[tuple[System, str]]:
    port = free_port()
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=0.5, seed=23)
    with running_system(
        database_url=backend_url,
        broker_url=redis_url,
        workdir=tmp_path_factory.mktemp("single-metrics"),
        sim_config=config,
        SCENARIO_METRICS_PORT=str(port),
        SCENARIO_LOG_LEVEL="INFO",
    ) as system:
        yield system, f"http://127.0.0.1:{port}/metrics"


def counted_in(system: System) -> Path:
    found = re.search(r"metrics on port \d+, counted in (\S+)", system.logs())
    assert found is not None, system.logs()[-2000:]
    return Path(found.group(1))


def test_single_jobs_and_a_refused_one_are_counted_as_the_database_has_them(single):
    system, url = single
    system.sim.faults.add_rule(endpoint="submit", prompt_contains="a refused lamp", status=400, times=1)
    ids = [enqueue_generation(f"a counted lamp number {n}", width=256, height=256) for n in range(JOBS)]
    refused = enqueue_generation("a refused lamp", width=256, height=256)

    jobs = [system.wait_for(job_id) for job_id in [*ids, refused]]
    samples = scrape(url)
    answered = system.sim.stats()["requests"]

    assert [job.status for job in jobs] == [JobStatus.SUCCESS] * JOBS + [JobStatus.DEAD]
    assert system.dead_letters.get_for_job(refused).reason is DeadLetterReason.PERMANENT_ERROR
    lane = lanes.SUBMIT
    assert total(samples, "scenario_job_transitions_total", status="success", lane=lane) == JOBS
    assert total(samples, "scenario_job_transitions_total", status="dead", lane=lane) == 1
    assert total(samples, "scenario_dead_letters_total", reason="permanent_error") == 1
    route = "POST /generate/custom/{modelId}"
    assert total(samples, "scenario_requests_total", route=route, status="400") == answered["submit"]["400"] == 1
    assert total(samples, "scenario_requests_total", route=route, status="200") == answered["submit"]["200"] == JOBS
    polled = answered.get("get_job", {}).get("200", 0)
    assert total(samples, "scenario_requests_total", route="GET /jobs/{jobId}", status="200") == polled > 0
    # A job Scenario accepted took the first status of its history from the submit's answer.
    first = [job.status_history[0]["status"] for job in jobs if job.status_history]
    assert len(first) == JOBS
    for status in set(first):
        assert total(samples, "scenario_job_transitions_total", status=status, lane=lane) == first.count(status)
    assert total(samples, "scenario_submit_seconds_count") == JOBS
    assert total(samples, "scenario_status_lag_seconds_count") == JOBS


def test_a_pause_for_the_credentials_shows_while_it_lasts(single):
    system, url = single
    pause = runtime.current().auth_pause
    pause.trip(seconds=30, status=401, code="UNAUTHORIZED", message="bad key")
    try:
        paused = scrape(url)
    finally:
        pause.clear()

    assert total(paused, "scenario_fleet_paused", reason="credentials") == 1
    assert total(paused, "scenario_fleet_paused", reason="payment") == 0
    assert total(scrape(url), "scenario_fleet_paused") == 0


def test_the_worker_makes_its_own_counting_directory_and_removes_it_when_it_stops(single):
    system, _ = single
    directory = counted_in(system)
    assert directory.is_dir()
    assert any(directory.glob("counter_*.db"))

    system.stop()

    wait_until(lambda: not directory.exists(), 10, "the counting directory to be removed")
