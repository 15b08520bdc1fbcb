"""Permanent errors, failed jobs and missed deadlines end in the dead-letter table."""

from __future__ import annotations

import pytest

from worker import enqueue_generation
from worker.db.models import DeadLetterReason
from worker.states import JobStatus


def total_submits(system) -> int:
    return sum(system.sim.stats()["requests"].get("submit", {}).values())


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404])
def test_a_permanent_error_is_dead_lettered_after_exactly_one_request(system, status):
    prompt = f"a crystal orb, permanent {status}"
    model_id = "flux.1-dev"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=status, times=1)
    before = total_submits(system)

    job = system.wait_for(enqueue_generation(prompt, model_id=model_id))

    assert job.status is JobStatus.DEAD
    assert total_submits(system) - before == 1
    letter = next(d for d in system.dead_letters.list(limit=1000) if d.job_id == job.id)
    assert letter.reason == DeadLetterReason.PERMANENT_ERROR
    assert letter.http_status == status
    assert letter.error_code
    assert letter.error_message
    assert letter.attempts == 1
    assert letter.payload["params"]["modelId"] == model_id


def test_a_job_that_scenario_fails_is_recorded_with_its_reason_and_dead_lettered(system):
    prompt = "a cursed amulet, failing on scenario"
    system.sim.faults.fail_jobs(prompt_contains=prompt, error="NSFW content detected")

    job = system.wait_for(enqueue_generation(prompt))

    assert job.status is JobStatus.FAILURE
    assert job.status_history[-1]["status"] == "failure"
    letter = next(d for d in system.dead_letters.list(limit=1000) if d.job_id == job.id)
    assert letter.reason == DeadLetterReason.JOB_FAILED
    assert "NSFW content detected" in letter.error_message
    assert letter.scenario_job_id == job.scenario_job_id


def test_a_job_that_passes_its_deadline_is_canceled_on_scenario_and_dead_lettered(system):
    prompt = "an endless tower, too slow"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=60)

    job = system.wait_for(enqueue_generation(prompt, deadline_s=2.0))

    assert job.status is JobStatus.DEAD
    letter = next(d for d in system.dead_letters.list(limit=1000) if d.job_id == job.id)
    assert letter.reason == DeadLetterReason.DEADLINE
    assert "canceled on Scenario" in letter.error_message
    assert system.sim.stats()["requests"]["cancel"].get("200", 0) >= 1


@pytest.mark.parametrize("status", [401, 402])
def test_a_401_or_402_pauses_every_submit_instead_of_letting_each_burn_its_attempts(system, status):
    refused = f"a brass key, refused with {status}"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=refused, status=status, times=1)
    first = enqueue_generation(refused)
    system.wait_for(first)
    before = total_submits(system)

    others = [enqueue_generation(f"a brass lock number {n}, submitted during the {status} pause") for n in range(3)]
    jobs = [system.wait_for(job_id) for job_id in others]

    assert system.jobs.get(first).status is JobStatus.DEAD
    assert all(job.status is JobStatus.SUCCESS and job.attempts == 1 for job in jobs)
    assert total_submits(system) - before == 3  # nothing was sent while submits were paused
    lines = system.logs().splitlines()
    assert any("pausing submits fleet-wide" in line and f"job_id={first}" in line for line in lines)
    waited = [line for line in lines if "submits are paused fleet-wide" in line]
    assert any(f"job_id={job_id}" in line for job_id in others for line in waited)
