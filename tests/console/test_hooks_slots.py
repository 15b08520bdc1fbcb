"""A hint gives the plan's slot back: under a cap of one, the next job is submitted once the
look a webhook woke has stored the first job's end, long before that job's own poll."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import KEY
from tests.conftest import SECRET as API_SECRET
from tests.console.conftest import serving_console
from tests.console.test_hooks import HOOK_SECRET, SLOW_POLLS, gets
from tests.harness import System, running_system
from tests.services import throwaway_postgres
from worker import enqueue_generation
from worker.simulator import SimulatorConfig
from worker.states import JobStatus


@pytest.fixture(scope="module")
def capped(redis_url, tmp_path_factory) -> Iterator[System]:
    config = SimulatorConfig(api_key=KEY, api_secret=API_SECRET, job_duration_s=1.0, seed=11, parallel_inferences=1)
    workdir = tmp_path_factory.mktemp("hook-slots")
    env = {**SLOW_POLLS, "SCENARIO_PARALLEL_JOBS": "1", "SCENARIO_SLOT_LEASE_S": "60"}
    with (
        throwaway_postgres() as database_url,
        running_system(
            database_url=database_url, broker_url=redis_url, workdir=workdir, sim_config=config, **env
        ) as system,
        serving_console(system, workdir, SCENARIO_WEBHOOK_SECRET=HOOK_SECRET) as url,
    ):
        system.sim.add_webhook(f"{url}/hooks/scenario", HOOK_SECRET)
        yield system


def test_three_jobs_under_a_cap_of_one_follow_each_other_on_hints_alone(capped) -> None:
    ids = [enqueue_generation(f"a lighthouse in line {n}", width=256, height=256) for n in range(3)]
    # Each waits for the one before it: with polls 30 s out, only hints move the line this soon.
    jobs = [capped.wait_for(job_id, timeout_s=25) for job_id in ids]
    for job_id in ids:
        capped.wait_for_log(f"looked after a hint job_id={job_id}")
    assert [job.status for job in jobs] == [JobStatus.SUCCESS] * 3
    assert [(gets(capped, job.scenario_job_id), job.polls) for job in jobs] == [(1, 0)] * 3
    stats = capped.sim.stats()
    assert stats["running_peak"] == 1
    assert stats["parallel_refusals"] == 0
