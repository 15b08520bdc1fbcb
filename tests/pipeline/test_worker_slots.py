"""Waiting for Scenario never holds a worker slot."""

from __future__ import annotations

from tests.harness import wait_until
from worker import enqueue_generation
from worker.states import JobStatus


def test_a_worker_with_two_slots_runs_a_new_task_at_once_while_fifty_jobs_render(system):
    wave = "a treasure chest, rendering in the slow wave"
    system.sim.faults.job_duration(prompt_contains=wave, seconds=12)
    wave_ids = [enqueue_generation(f"{wave} #{n}", width=256, height=256) for n in range(50)]
    wait_until(
        lambda: all(j.scenario_job_id for j in system.jobs.get_many(wave_ids)), 30, "all fifty jobs to be submitted"
    )

    quick = system.wait_for(enqueue_generation("a single coin, asked for while the wave renders"), timeout_s=10)

    assert quick.status is JobStatus.SUCCESS
    still_rendering = [j for j in system.jobs.get_many(wave_ids) if not j.status.is_final]
    assert len(still_rendering) == 50
    for job_id in wave_ids:
        assert system.wait_for(job_id, timeout_s=40).status is JobStatus.SUCCESS
