"""The plan's parallel limit as Scenario states it: read from the team's limits, never exceeded on Scenario's side."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system, wait_until
from tests.pipeline.test_parallel_slots import all_final, peak, running_intervals, unfinished
from tests.services import throwaway_postgres
from worker import enqueue_generation
from worker.simulator import SimulatorConfig
from worker.simulator.api import identity
from worker.states import JobStatus

CAP = 5
JOB_S = 1.0
JOBS = 100


@pytest.fixture(scope="module")
def planned(redis_url, tmp_path_factory) -> Iterator[System]:
    """A simulator whose plan runs five jobs at once, and two workers that only know the team's id."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=JOB_S, seed=3, parallel_inferences=CAP)
    env = {
        "SCENARIO_TEAM_ID": identity(KEY).owner_id,
        "SCENARIO_VISIBILITY_TIMEOUT_S": "30",
        "SCENARIO_SLOT_LEASE_S": "12",
        "SCENARIO_POLL_INITIAL_S": "0.1",
        "SCENARIO_POLL_MAX_S": "0.5",
        "SCENARIO_LOG_LEVEL": "INFO",
    }
    with (
        throwaway_postgres() as database_url,
        running_system(
            database_url=database_url,
            broker_url=redis_url,
            workdir=tmp_path_factory.mktemp("planned"),
            sim_config=config,
            workers=("w1", "w2"),
            **env,
        ) as system,
    ):
        yield system


def test_a_hundred_items_fill_the_plans_five_slots_without_a_dead_letter_or_a_refusal(planned):
    prompt = "a planned lantern"
    started = time.monotonic()
    ids = [enqueue_generation(f"{prompt} #{n}", width=256, height=256) for n in range(JOBS)]
    wait_until(
        lambda: all_final(planned, ids),
        90,
        "a hundred jobs to finish",
        every_s=0.2,
        on_timeout=lambda: unfinished(planned, ids),
    )
    took_s = time.monotonic() - started

    jobs = planned.jobs.get_many(ids)
    intervals = running_intervals(planned, prompt)
    stats = planned.sim.stats()
    floor_s = JOBS / CAP * JOB_S
    print(
        f"\n{JOBS} jobs of {JOB_S:g} s, plan limit {CAP} read from the team, 2 workers: took {took_s:.2f} s, "
        f"floor {floor_s:g} s ({took_s / floor_s:.2f}x), peak on Scenario {peak(intervals)}, "
        f"refusals {stats.get('parallel_refusals', 0)}, running peak {stats.get('running_peak')}"
    )
    assert [j.status for j in jobs] == [JobStatus.SUCCESS] * JOBS
    assert all(planned.dead_letters.get_for_job(job_id) is None for job_id in ids)
    assert all(job.attempts == 1 for job in jobs)
    assert peak(intervals) <= CAP and stats["running_peak"] <= CAP
