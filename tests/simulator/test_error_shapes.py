"""Error bodies in every shape the live service has been seen to use, and rules that answer exact bodies."""

from __future__ import annotations

import pytest
import requests

from tests.simulator.helpers import ApiClient
from worker.simulator.errorshape import MIXED_STEPS, error_body
from worker.simulator.messages import ApiError


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("code_message", {"status": "error", "code": "INVALID_PARAMETER", "message": "bad"}),
        ("reason", {"reason": "bad"}),
        ("reason_details", {"reason": "bad", "details": {"code": "INVALID_PARAMETER", "status": 400}}),
        ("message_hint", {"message": "bad", "hint": "HTTP 400: see the API documentation for INVALID_PARAMETER"}),
    ],
)
def test_each_shape_step_renders_the_same_error(step: str, expected: dict) -> None:
    assert error_body(ApiError(400, "bad"), step) == expected


def test_extra_keys_stay_in_every_shape() -> None:
    error = ApiError(429, "Too many parallel jobs", extra={"remainingSeconds": 4})
    for step in MIXED_STEPS:
        assert error_body(error, step)["remainingSeconds"] == 4


def test_the_reason_shape_answers_every_error_with_a_reason(start_simulator) -> None:
    sim = start_simulator(error_shape="reason", credits=5)
    api = ApiClient(sim.api_url)
    assert api.post("/generate/custom/flux.1-dev", {}).json() == {"reason": '"prompt" is required'}
    assert ApiClient(sim.api_url, auth=("sim-key", "nope")).get("/jobs").json() == {
        "reason": "Invalid API key or secret"
    }
    out_of_credits = api.submit("a fox")
    assert out_of_credits.status_code == 402 and set(out_of_credits.json()) == {"reason"}
    sim.faults.add_rule(endpoint="get_job", status=503, times=1)
    assert api.get("/jobs/job_x").json() == {"reason": "Service unavailable (injected fault)"}


def test_the_mixed_shape_rotates_through_every_shape(start_simulator) -> None:
    api = ApiClient(start_simulator(error_shape="mixed").api_url)
    bodies = [api.get("/jobs/job_missing").json() for _ in range(5)]
    assert set(bodies[0]) == {"status", "code", "message"}
    assert set(bodies[1]) == {"reason"}
    assert set(bodies[2]) == {"reason", "details"}
    assert set(bodies[3]) == {"message", "hint"}
    assert bodies[4] == bodies[0]
    assert all("job_missing" in (b.get("message") or b.get("reason")) for b in bodies)


def test_a_rule_answers_its_exact_body_and_headers(sim, api: ApiClient) -> None:
    body = {"reason": "Too many parallel jobs", "details": {"actionName": "parallelInferences", "actionLimit": 1}}
    sim.faults.add_rule(
        endpoint="submit",
        status=429,
        body={**body, "remainingSeconds": 7},
        headers={"x-should-retry": True, "retry-after-ms": 1500},
        times=1,
    )
    response = api.submit()
    assert response.status_code == 429
    assert response.json() == {**body, "remainingSeconds": 7}
    assert response.headers["x-should-retry"] == "true" and response.headers["retry-after-ms"] == "1500"
    assert "Retry-After" not in response.headers
    assert api.submit().status_code == 200


def test_a_rule_with_a_hint_body_over_the_control_endpoint(sim, api: ApiClient) -> None:
    rule = {"endpoint": "get_model", "status": 403, "body": {"message": "Plan too small", "hint": "Upgrade"}}
    assert requests.post(f"{sim.url}/_sim/faults/rules", json=rule, timeout=5).status_code == 200
    response = api.get("/models/flux.1-dev")
    assert (response.status_code, response.json()) == (403, {"message": "Plan too small", "hint": "Upgrade"})
    shown = requests.get(f"{sim.url}/_sim/faults", timeout=5).json()["rules"][0]
    assert shown["body"] == {"message": "Plan too small", "hint": "Upgrade"}


def test_rule_headers_must_be_a_mapping(sim) -> None:
    with pytest.raises(ValueError, match="headers"):
        sim.faults.add_rule(endpoint="submit", status=500, headers=["x-should-retry"])
