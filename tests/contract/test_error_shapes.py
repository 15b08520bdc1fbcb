"""Every error body shape Scenario sends reaches the dead letter with its text, and its wait is obeyed."""

from __future__ import annotations

import pytest

from tests.conftest import ON_POSTGRES
from worker import enqueue_generation
from worker.states import JobStatus

pytestmark = ON_POSTGRES


def letter_of(system, job_id):
    return next(d for d in system.dead_letters.list(limit=10_000) if d.job_id == job_id)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"status": "error", "code": "INVALID_PARAMETER", "message": "the prompt is not allowed"}, "not allowed"),
        ({"reason": "Model is not available for your plan"}, "not available for your plan"),
        ({"reason": "Bad inputs", "details": {"field": "prompt", "why": "banned word"}}, "Bad inputs"),
        ({"message": "Refused", "hint": "remove the brand name"}, "Refused"),
    ],
)
def test_each_error_body_shape_ends_up_in_the_dead_letter_with_its_text(system, body, text):
    prompt = f"an emblem refused with {sorted(body)}"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=400, body=body, times=1)

    job = system.wait_for(enqueue_generation(prompt))

    letter = letter_of(system, job.id)
    assert job.status is JobStatus.DEAD
    assert letter.http_status == 400 and text in letter.error_message
    if "details" in body:
        assert job.last_error["details"] == body["details"]
    if "hint" in body:
        assert job.last_error["hint"] == body["hint"]


def test_remaining_seconds_in_a_429_body_is_obeyed_before_the_next_request(system):
    prompt = "a banner told to wait"
    body = {"reason": "Slow down", "remainingSeconds": 2}
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=429, body=body, times=1)

    job = system.wait_for(enqueue_generation(prompt), timeout_s=40)

    assert job.status is JobStatus.SUCCESS
    waits = [r for r in system.sim.stats()["rate_limited"] if r["endpoint"] == "submit" and r["retried_at"]]
    assert waits and all(r["retried_at"] - r["at"] >= 2.0 for r in waits)
