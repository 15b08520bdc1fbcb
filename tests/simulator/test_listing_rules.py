"""GET /jobs filters: type, types, createdAfter, and where updatedAfter is allowed."""

from __future__ import annotations

import time

import pytest

from tests.simulator.helpers import ApiClient, generate, upload_image
from worker.simulator.listing import UPDATED_AFTER_RULE, parse_list_query


@pytest.mark.parametrize(
    ("query", "by_update", "updated_kept"),
    [
        ({}, False, False),
        ({"updatedAfter": "2025-01-01T00:00:00Z"}, False, False),
        ({"status": "queued", "updatedAfter": "2025-01-01T00:00:00Z"}, True, True),
        ({"type": "flux", "updatedAfter": "2025-01-01T00:00:00Z"}, True, True),
        ({"types": "flux,upscale", "updatedAfter": "2025-01-01T00:00:00Z"}, True, True),
        ({"workflowId": "wf_1", "updatedAfter": "2025-01-01T00:00:00Z"}, True, True),
        ({"createdAfter": "2025-01-01T00:00:00Z"}, False, False),
    ],
)
def test_updated_after_counts_only_beside_a_filter(query, by_update: bool, updated_kept: bool) -> None:
    parsed = parse_list_query(query, strict_filters=False)
    assert parsed.by_update is by_update
    assert (parsed.updated_after_ms is not None) is updated_kept


def test_types_and_type_make_one_set() -> None:
    parsed = parse_list_query({"type": "flux", "types": "upscale, custom,"}, strict_filters=False)
    assert parsed.job_types == frozenset({"flux", "upscale", "custom"})


def test_a_misplaced_updated_after_is_ignored_unless_strict(start_simulator) -> None:
    lenient = ApiClient(start_simulator(job_duration_s=30).api_url)
    job = lenient.submit_job()
    listed = lenient.get("/jobs", params={"updatedAfter": "2999-01-01T00:00:00Z"})
    assert listed.status_code == 200 and [j["jobId"] for j in listed.json()["jobs"]] == [job["jobId"]]
    strict = ApiClient(start_simulator(strict_list_filters=True).api_url)
    refused = strict.get("/jobs", params={"updatedAfter": "2025-01-01T00:00:00Z"})
    assert refused.status_code == 400 and refused.json()["message"] == UPDATED_AFTER_RULE
    assert strict.get("/jobs", params={"status": "queued", "updatedAfter": "2025-01-01T00:00:00Z"}).status_code == 200


def test_listing_filters_by_type_and_types(sim, api: ApiClient) -> None:
    sim.faults.job_duration(seconds=30)
    flux = api.submit_job()["jobId"]
    audio = generate(api, "model_audio-sfx", {"prompt": "boom"}).json()["job"]["jobId"]
    mesh = generate(api, "model_3d-mesh", {"image": upload_image(api)}).json()["job"]["jobId"]

    def ids(**params) -> set[str]:
        return {j["jobId"] for j in api.get("/jobs", params=params).json()["jobs"]}

    assert ids(type="flux") == {flux}
    assert ids(types="custom,image-to-3d") == {audio, mesh}
    assert ids() == {flux, audio, mesh}


def test_created_after_filters_and_the_order_is_by_creation(sim, api: ApiClient) -> None:
    sim.faults.job_duration(prompt_contains="slow", seconds=30)
    fast = api.submit_job("fast")
    time.sleep(0.01)
    slow = api.submit_job("slow")
    api.wait_final(fast["jobId"])  # the fast job changes last, yet was created first
    listed = api.get("/jobs").json()["jobs"]
    assert [j["jobId"] for j in listed] == [slow["jobId"], fast["jobId"]]
    after = api.get("/jobs", params={"createdAfter": fast["createdAt"]}).json()["jobs"]
    assert [j["jobId"] for j in after] == [slow["jobId"]]
    by_update = api.get("/jobs", params={"types": "flux"}).json()["jobs"]
    assert [j["jobId"] for j in by_update] == [fast["jobId"], slow["jobId"]]


def test_a_bad_created_after_is_a_400_naming_it(shared_api: ApiClient) -> None:
    response = shared_api.get("/jobs", params={"createdAfter": "last week"})
    assert response.status_code == 400 and '"createdAfter"' in response.json()["message"]
