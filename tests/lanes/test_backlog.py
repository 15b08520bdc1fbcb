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

BATCH_JOBS = 400
# Batch jobs that must be submitted before the single job comes, while the rest still
# wait in their lane.
IN_FLIGHT_FIRST = 100
# Production's watch settings, not the suite's quick ones: with hundreds of jobs a
# look at each every 2 s would be the whole load, and the test is about a backlog.
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


@pytest.mark.timeout(300)
def test_a_single_job_is_submitted_and_watched_ahead_of_hundreds_of_batch_jobs(busy_system):
    system = busy_system
    submit_batch(manifest_of(BATCH_JOBS))
    wait_until(lambda: submitted_count(system) >= IN_FLIGHT_FIRST, 180, "the batch's first jobs to be in flight")
    backlog = messages_ready(system.settings.broker_url, lanes.BATCH)
    assert backlog > 100, "the batch's submits must still be waiting when the single job comes"

    prompt = "a single golden key, enqueued behind a batch"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=1)
    job_id = enqueue_generation(prompt, width=512, height=512)
    job = wait_until(lambda: (j := system.jobs.get(job_id)) and j.submitted_at and j, 60, "the submit", every_s=0.05)
    # Its polls are not held up either: they wait in their own lane.
    finished = system.wait_for(job_id, timeout_s=60)
    batch = system.batch_jobs("crates")
    unsent_at_its_submit = sum(1 for j in batch if not j.submitted_at or j.submitted_at > job.submitted_at)
    sent_after_it = [j for j in batch if j.submitted_at and j.submitted_at > job.submitted_at]
    print(
        f"\nsingle job submitted {(job.submitted_at - job.created_at).total_seconds():.3f} s after it was "
        f"enqueued, with {backlog} batch submits waiting then and {unsent_at_its_submit} still unsent at its "
        f"submit, on {system.settings.broker_url.split(':')[0]}"
    )
    # Order, not time: one lane for all submits would send it after the whole backlog.
    assert unsent_at_its_submit >= backlog // 2
    assert finished.status is JobStatus.SUCCESS
    # A 1-s render watched in its own lane ends before any 60-s batch render sent after it.
    assert all(j.finished_at is None or j.finished_at > finished.finished_at for j in sent_after_it)
