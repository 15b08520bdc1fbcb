"""Creative units: what a submit answers and charges, refunds of failed jobs; which jobs can be canceled."""

from __future__ import annotations

import requests

from tests.simulator.helpers import ApiClient, generate, upload_image


def test_a_submit_answers_the_job_and_its_cost(api: ApiClient) -> None:
    body = api.submit("a fox", numSamples=2).json()
    assert (body["creativeUnitsCost"], body["creativeUnitsDiscount"]) == (20, 0)
    billing = body["job"]["billing"]
    assert (billing["cuCost"], billing["cuDiscount"], billing["disableRefund"]) == (20, 0, False)
    assert billing["cuCostDetails"]["numSamples"] == 2


def test_a_dry_run_on_the_custom_route_costs_the_fixed_price(shared_api: ApiClient) -> None:
    for flag in ("true", "api"):
        response = generate(shared_api, "model_audio-sfx", {"prompt": "boom"}, query=f"?dryRun={flag}")
        assert response.status_code == 269
        assert response.json() == {
            "creativeUnitsCost": 4,
            "creativeUnitsDiscount": 0,
            "costDetails": {"fixedCu": 4},
            "job": {},
        }


def test_a_failed_job_is_refunded_and_the_stats_add_up(start_simulator) -> None:
    sim = start_simulator(credits=25)
    api = ApiClient(sim.api_url)
    sim.faults.fail_jobs(prompt_contains="cursed")
    failed = api.submit_job("a cursed amulet")  # 10 of 25
    ok = api.submit_job("a fine amulet")  # 20 of 25
    assert api.submit("a third").status_code == 402
    final, _ = api.wait_final(failed["jobId"])
    assert final["status"] == "failure"
    assert final["billing"]["cuCost"] == 10 and final["billing"]["refunded"] is True
    done, _ = api.wait_final(ok["jobId"])
    assert "refunded" not in done["billing"]
    assert api.submit("a third").status_code == 200, "the refund made room for it"
    assert sim.stats()["billing"] == {"charged": 30, "refunded": 10, "net": 20}


def test_a_job_canceled_before_it_fails_is_not_refunded(start_simulator) -> None:
    sim = start_simulator(job_duration_s=0.4)
    api = ApiClient(sim.api_url)
    sim.faults.fail_jobs(prompt_contains="cursed")
    job = api.submit_job("cursed")
    api.post(f"/jobs/{job['jobId']}/action", {"action": "cancel"})
    final, _ = api.wait_final(job["jobId"])
    assert final["status"] == "canceled" and "refunded" not in final["billing"]
    assert sim.stats()["billing"]["refunded"] == 0


def test_an_upscale_cannot_be_canceled(sim, api: ApiClient) -> None:
    sim.faults.job_duration(seconds=30)
    job = generate(api, "model_upscale", {"image": upload_image(api)}).json()["job"]
    response = api.post(f"/jobs/{job['jobId']}/action", {"action": "cancel"})
    assert response.status_code == 400
    assert response.json()["message"] == "Cannot cancel this type of job"
    assert api.job(job["jobId"])["status"] != "canceled"


def test_a_3d_job_cannot_be_canceled_but_an_audio_job_can(sim, api: ApiClient) -> None:
    sim.faults.job_duration(seconds=30)
    mesh = generate(api, "model_3d-mesh", {"image": upload_image(api)}).json()["job"]
    assert api.post(f"/jobs/{mesh['jobId']}/action", {"action": "cancel"}).status_code == 400
    audio = generate(api, "model_audio-sfx", {"prompt": "boom"}).json()["job"]
    canceled = api.post(f"/jobs/{audio['jobId']}/action", {"action": "cancel"})
    assert canceled.status_code == 200 and canceled.json()["job"]["status"] == "canceled"


def test_a_rule_can_refuse_the_cancel_of_one_job(sim, api: ApiClient) -> None:
    sim.faults.job_duration(seconds=30)
    refused, other = api.submit_job("one"), api.submit_job("two")
    sim.faults.add_rule(
        endpoint="cancel", job_id=refused["jobId"], status=409, body={"reason": "Job is finalizing"}, times=1
    )
    response = api.post(f"/jobs/{refused['jobId']}/action", {"action": "cancel"})
    assert (response.status_code, response.json()) == (409, {"reason": "Job is finalizing"})
    assert api.job(refused["jobId"])["status"] != "canceled"
    assert api.post(f"/jobs/{other['jobId']}/action", {"action": "cancel"}).status_code == 200
    assert api.post(f"/jobs/{refused['jobId']}/action", {"action": "cancel"}).status_code == 200


def test_a_planted_job_belongs_to_the_team_with_another_author(sim, api: ApiClient) -> None:
    mine = api.submit_job("mine")
    planted = requests.post(
        f"{sim.url}/_sim/jobs",
        json={"modelId": "flux.1-dev", "inputs": {"prompt": "look-alike"}, "apiKey": "other-program", "durationS": 30},
        timeout=5,
    )
    assert planted.status_code == 200, planted.text
    job = planted.json()["job"]
    assert job["ownerId"] == mine["ownerId"] and job["authorId"] != mine["authorId"]
    assert job["metadata"]["input"]["prompt"] == "look-alike"
    assert api.job(job["jobId"])["status"] == "queued"
    assert job["jobId"] in {j["jobId"] for j in api.get("/jobs").json()["jobs"]}
    stats = sim.stats()
    assert (stats["jobs_created"], stats["planted_jobs"]) == (1, 1)


def test_a_planted_job_from_python_finishes_like_any_other(sim, api: ApiClient) -> None:
    job = sim.create_job("model_audio-sfx", {"prompt": "boom"}, duration_s=0.1)
    final, _ = api.wait_final(job["jobId"])
    assert final["status"] == "success" and final["authorId"] == api.submit_job()["authorId"]


def test_a_planted_job_with_bad_inputs_is_a_400(sim) -> None:
    response = requests.post(f"{sim.url}/_sim/jobs", json={"modelId": "flux.1-dev", "inputs": {"nope": 1}}, timeout=5)
    assert response.status_code == 400 and '"nope"' in response.json()["message"]
    missing = requests.post(f"{sim.url}/_sim/jobs", json={"inputs": {}}, timeout=5)
    assert missing.status_code == 400 and '"modelId"' in missing.json()["message"]


def test_planted_jobs_count_toward_the_parallel_cap(start_simulator) -> None:
    sim = start_simulator(parallel_inferences=1)
    sim.create_job("flux.1-dev", {"prompt": "other program"}, duration_s=30)
    assert ApiClient(sim.api_url).submit().status_code == 429
