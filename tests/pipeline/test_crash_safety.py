"""A worker killed mid-flight loses no job and causes no second submission."""

from __future__ import annotations

from tests.harness import wait_until
from worker import enqueue_generation
from worker.states import JobStatus


def test_a_worker_killed_while_polling_leaves_no_job_behind_and_submits_nothing_twice(system):
    prompt = "a stone golem, the worker dies while it renders"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=4)
    job_id = enqueue_generation(prompt)
    wait_until(lambda: (j := system.jobs.get(job_id)) and j.scenario_job_id and j.polls >= 1, 20,
               "the job to be submitted and polled")

    system.workers[-1].kill()
    assert system.jobs.get(job_id).status is not JobStatus.SUCCESS
    system.start_worker(name="after-crash")

    job = system.wait_for(job_id, timeout_s=40)
    assert job.status is JobStatus.SUCCESS
    stats = system.sim.stats()
    assert stats["submissions_by_prompt"][prompt] == 1
    assert stats["duplicate_submissions"] == 0
