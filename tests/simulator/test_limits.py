"""Team limits: GET /teams/{id}/limits, and the 429 beyond the parallel cap, over HTTP."""

from __future__ import annotations

import math
import time

from tests.simulator.helpers import ApiClient


def team_id(api: ApiClient) -> str:
    return api.submit_job("who am i")["ownerId"]


def test_the_team_limits_answer_the_plan(start_simulator) -> None:
    api = ApiClient(start_simulator(parallel_inferences=3, credits=500).api_url)
    team = team_id(api)
    response = api.get(f"/teams/{team}/limits")
    assert response.status_code == 200
    limits = response.json()["limits"]
    assert (limits["parallelInferences"], limits["parallelCustomJobs"]) == (3, 3)
    assert limits["creativeUnits"] == 490
    assert {"inferenceBatchSize", "minCooldown", "maxCooldown"} <= limits.keys()


def test_another_teams_limits_are_a_404(api: ApiClient) -> None:
    response = api.get("/teams/team_someone_else/limits")
    assert response.status_code == 404
    assert "team_someone_else" in response.json()["message"]


def test_without_a_cap_the_limits_say_null(api: ApiClient) -> None:
    assert api.get(f"/teams/{team_id(api)}/limits").json()["limits"]["parallelInferences"] is None


def test_a_submit_beyond_the_parallel_cap_is_a_429_with_the_live_body(start_simulator) -> None:
    sim = start_simulator(parallel_inferences=2, job_duration_s=3.0, error_shape="reason")
    api = ApiClient(sim.api_url)
    started = time.time()
    api.submit_job("one")
    time.sleep(0.05)
    api.submit_job("two")
    refused = api.submit("three")
    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers
    body = refused.json()
    assert body["reason"] == "Too many parallel jobs"
    assert body["details"] == {"actionName": "parallelInferences", "actionLimit": 2}
    # The oldest job ends 3 s after its creation, well under a second ago: 3 s left, rounded up.
    assert body["remainingSeconds"] == math.ceil(3.0 - (time.time() - started))
    assert set(body) == {"reason", "details", "remainingSeconds"}
    again = api.submit("three")
    assert again.status_code == 429, "an immediate retry gets the same answer"
    stats = sim.stats()
    assert stats["parallel_refusals"] == 2 and stats["jobs_created"] == 2
    assert stats["running_peak"] == 2


def test_the_default_shape_keeps_the_parallel_details(start_simulator) -> None:
    api = ApiClient(start_simulator(parallel_inferences=1, job_duration_s=2.0).api_url)
    api.submit_job("one")
    body = api.submit("two").json()
    assert (body["status"], body["code"]) == ("error", "TOO_MANY_PARALLEL_JOBS")
    assert body["message"] == body["reason"] == "Too many parallel jobs"
    assert body["details"]["actionLimit"] == 1 and body["remainingSeconds"] >= 1


def test_a_slot_frees_when_a_job_ends(start_simulator) -> None:
    sim = start_simulator(parallel_inferences=1, job_duration_s=0.2)
    api = ApiClient(sim.api_url)
    job = api.submit_job("one")
    assert api.submit("two").status_code == 429
    api.wait_final(job["jobId"])
    assert api.submit("two").status_code == 200
    assert sim.stats()["running_peak"] == 1


def test_a_canceled_job_frees_its_slot(start_simulator) -> None:
    api = ApiClient(start_simulator(parallel_inferences=1, job_duration_s=30).api_url)
    job = api.submit_job("one")
    assert api.post(f"/jobs/{job['jobId']}/action", {"action": "cancel"}).status_code == 200
    assert api.submit("two").status_code == 200


def test_running_peak_is_computed_from_job_times(start_simulator) -> None:
    sim = start_simulator(job_duration_s=0.3)
    api = ApiClient(sim.api_url)
    for i in range(3):
        api.submit_job(f"overlapping {i}")
    time.sleep(0.5)  # all three are over
    api.submit_job("alone")
    assert sim.stats()["running_peak"] == 3
    sim.reset_stats()
    assert sim.stats()["running_peak"] == 0
