"""Waiting for Scenario never holds a worker slot."""

from __future__ import annotations

import pytest

from tests.conftest import ON_POSTGRES
from tests.harness import wait_until
from worker import enqueue_generation
from worker.options import JobOptions
from worker.states import JobStatus

pytestmark = ON_POSTGRES

# The wave renders for a minute, so that it is still rendering however slowly this machine submits it;
# the test ends before the wave does.
WAVE_RENDER_S = 60


@pytest.mark.timeout(150)
def test_a_worker_with_two_slots_runs_a_new_task_at_once_while_fifty_jobs_render(system):
    wave = "a treasure chest, rendering in the slow wave"
    system.sim.faults.job_duration(prompt_contains=wave, seconds=WAVE_RENDER_S)
    # The suite's 30-s job deadline would end the wave early: these jobs are given five minutes.
    long_enough = JobOptions(deadline_s=300)
    wave_ids = [enqueue_generation(f"{wave} #{n}", width=256, height=256, options=long_enough) for n in range(50)]
    wait_until(
        lambda: all(j.scenario_job_id for j in system.jobs.get_many(wave_ids)), 30, "all fifty jobs to be submitted"
    )

    # Not a time limit: the wave's renders outlast it however slowly this machine runs it (checked below).
    quick = system.wait_for(enqueue_generation("a single coin, asked for while the wave renders"), timeout_s=45)

    assert quick.status is JobStatus.SUCCESS
    # Every job of the wave is still rendering now that the single job has ended: all fifty were
    # watched without a worker slot held for any of them.
    still = system.jobs.get_many(wave_ids)
    assert len(still) == 50
    assert not [job.id for job in still if job.is_final]
    assert all(job.scenario_job_id for job in still)
