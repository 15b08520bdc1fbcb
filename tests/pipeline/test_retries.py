"""Transient errors are retried with backoff, never before Retry-After."""

from __future__ import annotations

from tests.conftest import ON_POSTGRES
from worker import enqueue_generation
from worker.db.models import DeadLetterReason
from worker.states import JobStatus


def submits(system) -> dict[str, int]:
    return system.sim.stats()["requests"].get("submit", {})


def test_500s_on_submit_are_retried_and_the_job_then_succeeds_once(system):
    prompt = "a bronze shield, flaky submit"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=500, times=2)

    job = system.wait_for(enqueue_generation(prompt))

    assert job.status is JobStatus.SUCCESS
    assert job.attempts == 3
    assert system.sim.stats()["submissions_by_prompt"][prompt] == 1


def test_503s_while_polling_are_retried_and_the_job_still_succeeds(system):
    prompt = "a silver helmet, flaky polling"
    system.sim.faults.add_rule(endpoint="get_job", status=503, times=2)

    job = system.wait_for(enqueue_generation(prompt))

    assert job.status is JobStatus.SUCCESS
    assert system.sim.stats()["requests"]["get_job"].get("503", 0) >= 2


def test_a_429_with_retry_after_is_not_retried_sooner(system):
    prompt = "a golden crown, rate limited"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=429, retry_after="2", times=2)

    job = system.wait_for(enqueue_generation(prompt))

    assert job.status is JobStatus.SUCCESS
    limited = [r for r in system.sim.stats()["rate_limited"] if r["retry_after_s"] == 2 and r["endpoint"] == "submit"]
    assert len(limited) >= 2
    for record in limited[-2:]:
        assert record["retried_at"] is not None
        assert record["retried_at"] - record["at"] >= 2.0


def test_a_429_without_retry_after_is_retried_with_backoff(system):
    prompt = "a wooden bow, rate limited without a delay"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=429, times=1)

    job = system.wait_for(enqueue_generation(prompt))

    assert job.status is JobStatus.SUCCESS
    assert job.attempts == 2


# Its waits are the gateway's, not the engine's; a dead letter on SQLite is written in the next test.
@ON_POSTGRES
def test_retries_that_run_out_end_in_a_dead_letter_with_the_last_error(system):
    prompt = "an iron anvil, always failing"
    # A gateway's 502: Scenario may still make the job behind it, so each retry waits that out,
    # looks for it, and only then sends again.
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=502, times=None)

    job = system.wait_for(enqueue_generation(prompt), timeout_s=60)

    assert job.status is JobStatus.DEAD
    [letter] = system.dead_letters.list(reason=DeadLetterReason.RETRIES_EXHAUSTED, limit=1000)
    assert letter.job_id == job.id
    assert letter.http_status == 502
    assert letter.attempts == system.settings.max_retries + 1
    assert letter.payload["params"]["prompt"] == prompt
    assert job.attempts == system.settings.max_retries + 1


def test_waiting_out_a_fleet_pause_spends_none_of_a_jobs_retries(system):
    system.sim.faults.add_rule(endpoint="submit", prompt_contains="a tripwire", status=401, times=1)
    system.wait_for(enqueue_generation("a tripwire, refused credentials"))
    doomed = "an iron gate, failing after waiting out the pause"
    # Scenario's own 500: it answered, so each retry goes after its backoff alone.
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=doomed, status=500, times=None)

    job = system.wait_for(enqueue_generation(doomed), timeout_s=60)

    waits = [line for line in system.logs().splitlines() if f"job_id={job.id}" in line and "submits are paused" in line]
    assert waits, "the job never met the pause"
    assert job.status is JobStatus.DEAD
    assert job.attempts == system.settings.max_retries + 1  # every real retry was still there
    letter = system.dead_letters.get_for_job(job.id)
    assert letter.reason == DeadLetterReason.RETRIES_EXHAUSTED and letter.attempts == job.attempts
