"""A single job is not held up by a batch's backlog: lanes, with a real worker of concurrency 2."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system, wait_until
from tests.services import messages_ready, throwaway_broker, throwaway_postgres
from worker import enqueue_generation, lanes
from worker.batches.manifest import parse_manifest
from worker.batches.runs import submit_batch
from worker.simulator import SimulatorConfig
from worker.states import JobStatus

BATCH_JOBS = 1000
# Batch jobs that must be submitted (each with its guard held by the worker as a
# countdown) before the single job comes, while the rest still wait in their lane.
IN_FLIGHT_FIRST = 300
SUBMITTED_WITHIN_S = 2.0
# Production's watch settings, not the suite's quick ones: with a thousand jobs a
# guard every 2 s would be the whole load, and the test is about a backlog.
WATCH_ENV = {
    "SCENARIO_SWEEP_INTERVAL_S": "2",
    "SCENARIO_SWEEP_STALE_AFTER_S": "30",
    "SCENARIO_POLL_MAX_S": "30",
    "SCENARIO_VISIBILITY_TIMEOUT_S": "120",
    "SCENARIO_JOB_DEADLINE_S": "600",
    "SCENARIO_MAX_RETRIES": "8",
    "SCENARIO_LOG_LEVEL": "INFO",
}


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def busy_system(request, redis_url, tmp_path_factory) -> Iterator[System]:
    """The simulator rendering every job for 60 s, PostgreSQL, and one worker of concurrency 2, on each broker."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=60.0, seed=3)
    with (
        throwaway_postgres() as database_url,
        throwaway_broker(request.param, redis_url) as broker_url,
        running_system(
            database_url=database_url,
            broker_url=broker_url,
            redis_url=redis_url,
            workdir=tmp_path_factory.mktemp("lanes"),
            sim_config=config,
            workers=(),
            **WATCH_ENV,
        ) as system,
    ):
        system.start_worker(name="all-lanes", concurrency=2)
        yield system


def manifest_of(count: int):
    items = "\n".join(f"  - name: crate-{i}\n    prompt: a wooden crate number {i}, game prop" for i in range(count))
    text = f"batch: crates\ndefaults:\n  width: 512\n  height: 512\nitems:\n{items}\n"
    return parse_manifest(text, kind="yaml")


def submitted_count(system: System) -> int:
    return sum(1 for job in system.batch_jobs("crates") if job.scenario_job_id)


def test_a_single_job_is_submitted_within_2_s_behind_a_thousand_batch_jobs(busy_system):
    system = busy_system
    submit_batch(manifest_of(BATCH_JOBS))
    wait_until(lambda: submitted_count(system) >= IN_FLIGHT_FIRST, 120, "the batch's first jobs to be in flight")
    backlog = messages_ready(system.settings.broker_url, lanes.BATCH)
    assert backlog > 100, "the batch's submits must still be waiting when the single job comes"

    prompt = "a single golden key, enqueued behind a batch"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=1)
    job_id = enqueue_generation(prompt, width=512, height=512)
    job = wait_until(lambda: (j := system.jobs.get(job_id)) and j.submitted_at and j, 30, "the submit", every_s=0.05)
    delay_s = (job.submitted_at - job.created_at).total_seconds()
    # Its polls are not held up either: they wait in their own lane.
    finished = system.wait_for(job_id, timeout_s=30)
    watched_s = (finished.finished_at - job.submitted_at).total_seconds()
    print(
        f"\nsingle job submitted {delay_s:.3f} s after it was enqueued and finished {watched_s:.3f} s after "
        f"its submit (a 1 s render), with {backlog} batch submits waiting and "
        f"{submitted_count(system)} batch jobs in flight, on {system.settings.broker_url.split(':')[0]}"
    )
    assert delay_s < SUBMITTED_WITHIN_S
    assert finished.status is JobStatus.SUCCESS and watched_s < 10
