"""A worker started with -Q serves only its lanes; the other lanes wait for theirs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system, wait_until
from tests.services import messages_ready
from worker import enqueue_generation, lanes
from worker.batches.manifest import parse_manifest
from worker.batches.runs import submit_batch
from worker.simulator import SimulatorConfig
from worker.states import JobStatus


@pytest.fixture(scope="module")
def submit_only(redis_url, tmp_path_factory) -> Iterator[System]:
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=9)
    with running_system(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('db') / 'jobs.db'}",
        broker_url=redis_url,
        workdir=tmp_path_factory.mktemp("dedicated"),
        sim_config=config,
        workers=(),
        # The lanes' messages are counted one by one here: no recovery runs join the watch lane.
        SCENARIO_RECOVERY_INTERVAL_S="0",
    ) as system:
        yield system


def waiting_in(system: System, lane: str) -> int:
    return messages_ready(system.settings.broker_url, lane)


def test_a_submit_lane_worker_submits_single_jobs_and_leaves_the_other_lanes_waiting(submit_only):
    system = submit_only
    system.start_worker(name="submits", queues=(lanes.SUBMIT,))
    submit_batch(parse_manifest("batch: barrels\nitems:\n  - name: barrel\n    prompt: an oak barrel\n", kind="yaml"))
    job_id = enqueue_generation("a lone lantern, for the submit lane")

    job = wait_until(lambda: (j := system.jobs.get(job_id)) and j.scenario_job_id and j, 20, "the single submit")

    # Its first poll waits in the watch lane, which nobody serves yet; so does the batch item's submit.
    wait_until(lambda: waiting_in(system, lanes.WATCH) == 1, 5, "the single job's first poll")
    assert waiting_in(system, lanes.BATCH) == 1
    assert job.status is not JobStatus.SUCCESS
    assert [j.status for j in system.batch_jobs("barrels")] == [JobStatus.CREATED]

    system.start_worker(name="the-rest", queues=(lanes.WATCH, lanes.BATCH, lanes.DOWNLOAD))
    assert system.wait_for(job_id).status is JobStatus.SUCCESS
    wait_until(lambda: system.batch_jobs("barrels")[0].status is JobStatus.SUCCESS, 30, "the batch item")
