"""A worker killed mid-flight loses no job and causes no second submission."""

from __future__ import annotations

from tests.conftest import BOTH_BROKERS
from tests.harness import wait_until
from worker import JobOptions, enqueue_generation
from worker.db.models import DeadLetterReason
from worker.states import JobStatus

# Both brokers must keep these promises.
pytestmark = BOTH_BROKERS

# The poison test's workers dead-letter a message on its delivery after this many.
MAX_DELIVERIES = 2


def test_a_worker_killed_while_polling_leaves_no_job_behind_and_submits_nothing_twice(system):
    prompt = "a stone golem, the worker dies while it renders"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=4)
    job_id = enqueue_generation(prompt)
    wait_until(
        lambda: (j := system.jobs.get(job_id)) and j.scenario_job_id and j.polls >= 1,
        20,
        "the job to be submitted and polled",
    )

    system.workers[-1].kill()
    assert system.jobs.get(job_id).status is not JobStatus.SUCCESS
    system.start_worker(name="after-crash")

    job = system.wait_for(job_id, timeout_s=40)
    assert job.status is JobStatus.SUCCESS
    stats = system.sim.stats()
    assert stats["submissions_by_prompt"][prompt] == 1
    assert stats["duplicate_submissions"] == 0


def test_a_message_that_kills_its_worker_every_time_is_dead_lettered_as_poison(system):
    prompt = "a cursed mirror, every worker that looks at it dies"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=120)
    # Workers die in turn before the verdict: on a loaded machine that can outlast the suite's
    # 30-s deadline, and this test is about the deliveries, not the deadline.
    job_id = enqueue_generation(prompt, options=JobOptions(deadline_s=600))
    # Polled once: the submit's message is acknowledged, so only the poll's can come back.
    submitted = wait_until(
        lambda: (j := system.jobs.get(job_id)) and j.scenario_job_id and j.polls >= 1 and j, 20, "the first poll"
    )
    # Each look at the job now hangs long enough to be caught in the act.
    system.sim.faults.add_rule(endpoint="get_job", job_id=submitted.scenario_job_id, action="slow", delay_s=2.5)
    system.workers[-1].kill()
    # Only the broker brings the message back: a recovery would start a fresh chain, rightly leaving
    # the killing message stale, and on a loaded machine it can come first.
    poison_env = {"SCENARIO_MAX_DELIVERIES": str(MAX_DELIVERIES), "SCENARIO_RECOVERY_INTERVAL_S": "0"}

    # Each worker dies in the middle of the poll it took. The killed worker may itself have been
    # in the middle of one, so the count of deliveries is followed rather than assumed.
    seen = claim_of(system, job_id)
    kills = 0
    while kills < 2 * MAX_DELIVERIES:
        worker = system.start_worker(name=f"poison-{kills + 1}", **poison_env)
        taken = wait_until(
            lambda seen=seen: system.jobs.get(job_id).is_final or ((c := claim_of(system, job_id)) != seen and c),
            30,
            "the poll to come back",
            every_s=0.02,
        )
        if taken is True or taken[1] > MAX_DELIVERIES:
            break  # the verdict is being written: this worker is left to write it
        worker.kill()
        kills += 1
        seen = taken
    else:
        system.start_worker(name="poison-last", **poison_env)

    job = system.wait_for(job_id, timeout_s=90)
    assert job.status is JobStatus.DEAD
    letter = system.dead_letters.get_for_job(job_id)
    assert letter.reason == DeadLetterReason.POISON
    assert f"delivered {MAX_DELIVERIES + 1} times" in letter.error_message


def claim_of(system, job_id: str) -> tuple[str | None, int]:
    job = system.jobs.get(job_id)
    return job.last_task_id, job.deliveries


def test_a_submit_whose_answer_was_lost_is_adopted_not_paid_for_twice(system):
    prompt = "a silver chalice, its first answer lost on the way back"
    # Scenario makes the job, then the connection drops before the answer arrives.
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, action="drop_after", times=1)

    job = system.wait_for(enqueue_generation(prompt))

    assert job.status is JobStatus.SUCCESS
    stats = system.sim.stats()
    assert stats["requests"]["submit"].get("dropped", 0) >= 1
    assert stats["submissions_by_prompt"][prompt] == 1
    system.wait_for_log("adopted an earlier submission")
