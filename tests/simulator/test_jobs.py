"""Jobs over HTTP: the lifecycle, failure, cancel, and listing with filters and paging."""

from __future__ import annotations

import time

import pytest

from tests.simulator.helpers import ApiClient

STEPS = ["queued", "warming-up", "in-progress"]


def test_a_job_moves_through_every_status_in_order_and_succeeds_with_one_asset_per_sample(start_simulator) -> None:
    api = ApiClient(start_simulator(job_duration_s=0.8).api_url)
    job = api.submit_job("a red fox", numSamples=3)
    final, seen = api.wait_final(job["jobId"])

    assert [step["status"] for step in final["statusHistory"]] == [*STEPS, "success"]
    dates = [step["date"] for step in final["statusHistory"]]
    assert dates == sorted(dates)
    assert final["updatedAt"] == dates[-1] and final["createdAt"] == dates[0]
    order = [*STEPS, "success"]
    assert [order.index(j["status"]) for j in seen] == sorted(order.index(j["status"]) for j in seen)
    progress = [j["progress"] for j in seen]
    assert progress == sorted(progress)
    assert any(0 < p < 1 for p in progress), "progress was never seen part way"
    assert final["progress"] == 1
    assert len(final["metadata"]["assetIds"]) == 3
    assert final["billing"]["cuCost"] == 30 and final["billing"]["cuDiscount"] == 0
    assert "refunded" not in final["billing"]
    assert "error" not in final["metadata"]


def test_a_job_marked_to_fail_ends_in_failure_with_its_error_and_no_assets(sim, api: ApiClient) -> None:
    sim.faults.fail_jobs(prompt_contains="cursed", error="NSFW content detected")
    job = api.submit_job("a Cursed amulet")
    final, _ = api.wait_final(job["jobId"])
    assert final["status"] == "failure"
    assert final["metadata"]["error"] == "NSFW content detected"
    assert final["metadata"]["assetIds"] == []
    assert final["billing"]["cuCost"] == 10 and final["billing"]["refunded"] is True
    assert [step["status"] for step in final["statusHistory"]] == [*STEPS, "failure"]
    blessed, _ = api.wait_final(api.submit_job("a blessed amulet")["jobId"])
    assert blessed["status"] == "success"


def test_the_random_job_failure_rate_fails_jobs_with_a_default_error(start_simulator) -> None:
    api = ApiClient(start_simulator(rate_job_failure=1.0).api_url)
    final, _ = api.wait_final(api.submit_job()["jobId"])
    assert final["status"] == "failure"
    assert final["metadata"]["error"]


def test_an_unknown_job_is_a_404(api: ApiClient) -> None:
    response = api.get("/jobs/job_doesnotexist")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_cancelling_a_running_job_ends_it_canceled_for_good(sim, api: ApiClient) -> None:
    sim.faults.job_duration(prompt_contains="long", seconds=0.5)
    job = api.submit_job("a long story")
    response = api.post(f"/jobs/{job['jobId']}/action", {"action": "cancel"})
    assert response.status_code == 200
    canceled = response.json()["job"]
    assert canceled["status"] == "canceled"
    assert canceled["statusHistory"][-1]["status"] == "canceled"
    assert canceled["updatedAt"] == canceled["statusHistory"][-1]["date"]
    time.sleep(0.6)  # past the moment it would have succeeded
    later = api.job(job["jobId"])
    assert later["status"] == "canceled"
    assert later["metadata"]["assetIds"] == []
    assert [s["status"] for s in later["statusHistory"]] == [s["status"] for s in canceled["statusHistory"]]


def test_cancelling_a_final_job_answers_it_unchanged(api: ApiClient) -> None:
    final, _ = api.wait_final(api.submit_job()["jobId"])
    response = api.post(f"/jobs/{final['jobId']}/action", {"action": "cancel"})
    assert response.status_code == 200
    assert response.json()["job"] == final


@pytest.mark.parametrize(
    ("body", "field"), [({"action": "pause"}, '"action"'), ({}, '"action"'), ({"action": "cancel", "why": 1}, '"why"')]
)
def test_a_bad_job_action_is_a_400_naming_the_field(api: ApiClient, body, field: str) -> None:
    job = api.submit_job()
    response = api.post(f"/jobs/{job['jobId']}/action", body)
    assert response.status_code == 400
    assert field in response.json()["message"]


def test_cancelling_an_unknown_job_is_a_404(api: ApiClient) -> None:
    assert api.post("/jobs/job_nope/action", {"action": "cancel"}).status_code == 404


def test_listing_pages_through_every_job_newest_creation_first(sim, api: ApiClient) -> None:
    sim.faults.job_duration(seconds=30)
    created = [api.submit_job(f"fox {i}")["jobId"] for i in range(7)]
    pages, token = [], None
    for _ in range(10):  # a bound, in case paging never ends
        params = {"pageSize": 3, **({"paginationToken": token} if token else {})}
        body = api.get("/jobs", params=params).json()
        pages.append(body["jobs"])
        token = body.get("nextPaginationToken")
        if token is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    listed = [job for page in pages for job in page]
    assert sorted(j["jobId"] for j in listed) == sorted(created)
    keys = [(j["createdAt"], j["jobId"]) for j in listed]
    assert keys == sorted(keys, reverse=True)


def test_listing_filters_by_status(sim, api: ApiClient) -> None:
    sim.faults.job_duration(prompt_contains="slow", seconds=30)
    slow = {api.submit_job(f"slow fox {i}")["jobId"] for i in range(3)}
    fast = {api.submit_job(f"fast fox {i}")["jobId"] for i in range(2)}
    for job_id in fast:
        api.wait_final(job_id)
    assert {j["jobId"] for j in api.get("/jobs", params={"status": "success"}).json()["jobs"]} == fast
    queued = api.get("/jobs", params={"status": "queued"}).json()["jobs"]
    assert {j["jobId"] for j in queued} == slow
    assert all(j["status"] == "queued" for j in queued)


def test_listing_filters_by_updated_after(sim, api: ApiClient) -> None:
    sim.faults.job_duration(seconds=30)
    first = api.submit_job("first")
    time.sleep(0.01)
    second = api.submit_job("second")
    listed = api.get("/jobs", params={"status": "queued", "updatedAfter": first["updatedAt"]}).json()["jobs"]
    assert [j["jobId"] for j in listed] == [second["jobId"]]
    everything = api.get("/jobs", params={"status": "queued", "updatedAfter": "2000-01-01T00:00:00.000Z"}).json()
    assert len(everything["jobs"]) == 2 and "nextPaginationToken" not in everything


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"pageSize": 0}, '"pageSize"'),
        ({"pageSize": 101}, '"pageSize"'),
        ({"pageSize": "ten"}, '"pageSize"'),
        ({"updatedAfter": "yesterday"}, '"updatedAfter"'),
        ({"status": "done"}, '"status"'),
        ({"paginationToken": "not-a-token"}, '"paginationToken"'),
    ],
)
def test_bad_listing_parameters_are_a_400_naming_the_field(shared_api: ApiClient, params, field: str) -> None:
    response = shared_api.get("/jobs", params=params)
    assert response.status_code == 400
    assert field in response.json()["message"]
