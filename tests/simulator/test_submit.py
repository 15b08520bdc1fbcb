"""Submitting generations: validation, auth, credits, ownership and dry runs, over HTTP."""

from __future__ import annotations

import re

import pytest
import requests

from tests.simulator.helpers import ApiClient

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BASE = {"modelId": "flux.1-dev", "prompt": "a red fox"}
MISSING = object()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("modelId", 42, '"modelId" must be a string'),
        ("modelId", MISSING, '"modelId" is required'),
        ("modelId", "", '"modelId" must not be empty'),
        ("prompt", MISSING, '"prompt" is required'),
        ("prompt", "", '"prompt" must be a non-empty string'),
        ("prompt", "   ", '"prompt" must be a non-empty string'),
        ("prompt", 3, '"prompt" must be a non-empty string'),
        ("negativePrompt", 5, '"negativePrompt" must be a string'),
        ("numSamples", 0, '"numSamples" must be between 1 and 8'),
        ("numSamples", 9, '"numSamples" must be between 1 and 8'),
        ("numSamples", "2", '"numSamples" must be an integer'),
        ("numSamples", 1.5, '"numSamples" must be an integer'),
        ("numSamples", True, '"numSamples" must be an integer'),
        ("width", 120, '"width" must be between 128 and 2048'),
        ("width", 2056, '"width" must be between 128 and 2048'),
        ("width", 1001, '"width" must be a multiple of 8'),
        ("height", "1024", '"height" must be an integer'),
        ("height", 4096, '"height" must be between 128 and 2048'),
        ("guidance", -1, '"guidance" must be between 0 and 20'),
        ("guidance", 20.5, '"guidance" must be between 0 and 20'),
        ("guidance", "high", '"guidance" must be a number'),
        ("guidance", False, '"guidance" must be a number'),
        ("numInferenceSteps", 0, '"numInferenceSteps" must be between 1 and 100'),
        ("numInferenceSteps", 101, '"numInferenceSteps" must be between 1 and 100'),
        ("seed", -1, '"seed" must be between 0 and'),
        ("seed", 1.2, '"seed" must be an integer'),
        ("intermediateImages", "yes", '"intermediateImages" must be a boolean'),
        ("hideResults", 1, '"hideResults" must be a boolean'),
        ("colour", "red", '"colour" is not allowed'),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_the_field(shared_api: ApiClient, field, value, message) -> None:
    body = dict(BASE)
    if value is MISSING:
        body.pop(field)
    else:
        body[field] = value
    response = shared_api.post("/generate/txt2img", body)
    assert response.status_code == 400
    error = response.json()
    assert error["status"] == "error"
    assert error["code"] == "INVALID_PARAMETER"
    assert error["message"].startswith(message)


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"", b"[1, 2]", b'"prompt"'])
def test_a_body_that_is_not_a_json_object_is_a_400(shared_api: ApiClient, raw: bytes) -> None:
    response = shared_api.post("/generate/txt2img", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PARAMETER"


def test_a_submission_answers_the_whole_queued_job_with_defaults_filled(api: ApiClient) -> None:
    response = api.submit("a red fox", numSamples=2, seed=7)
    assert response.status_code == 200
    job = response.json()["job"]
    assert re.fullmatch(r"job_[A-Za-z0-9]{24}", job["jobId"])
    assert job["jobType"] == "flux"
    assert job["status"] == "queued"
    assert job["progress"] == 0
    assert job["statusHistory"] == [{"status": "queued", "date": job["createdAt"]}]
    assert ISO_MS.match(job["createdAt"]) and job["updatedAt"] == job["createdAt"]
    assert job["ownerId"] and job["authorId"]
    assert job["metadata"]["input"] == {
        "modelId": "flux.1-dev",
        "prompt": "a red fox",
        "type": "txt2img",
        "baseModelId": "",
        "negativePrompt": "",
        "numSamples": 2,
        "seed": "7",
        "width": 1024,
        "height": 1024,
        "guidance": 3.5,
        "numInferenceSteps": 28,
        "intermediateImages": False,
        "hideResults": False,
    }


def test_the_custom_endpoint_takes_the_model_from_the_path(api: ApiClient) -> None:
    response = api.post("/generate/custom/model_scenario-game-icons", {"prompt": "a sword icon", "width": 512})
    assert response.status_code == 200
    job = response.json()["job"]
    assert job["metadata"]["input"]["modelId"] == "model_scenario-game-icons"
    assert job["metadata"]["input"]["width"] == 512


def test_the_custom_endpoint_refuses_a_model_id_in_the_body(api: ApiClient) -> None:
    response = api.post("/generate/custom/flux.1-dev", {"prompt": "x", "modelId": "flux.1-dev"})
    assert response.status_code == 400
    assert '"modelId"' in response.json()["message"]


@pytest.mark.parametrize("path", ["/generate/txt2img", "/generate/custom/no-such-model"])
def test_an_unknown_model_is_a_404(shared_api: ApiClient, path: str) -> None:
    body = {"prompt": "x"} if "custom" in path else {"modelId": "no-such-model", "prompt": "x"}
    response = shared_api.post(path, body)
    assert response.status_code == 404
    assert response.json() == {"status": "error", "code": "NOT_FOUND", "message": "Model not found: no-such-model"}


def test_another_teams_private_model_is_a_403(shared_api: ApiClient) -> None:
    response = shared_api.submit(modelId="model_private-other-team")
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


@pytest.mark.parametrize("auth", [None, ("sim-key", "wrong-secret"), ("other-key", "sim-secret"), ("", "")], ids=str)
def test_missing_or_wrong_credentials_are_a_401(sim, auth) -> None:
    client = ApiClient(sim.api_url, auth=auth)
    response = client.submit()
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_FAILED"
    assert sim.stats()["jobs_created"] == 0


def test_a_malformed_authorization_header_is_a_401(sim) -> None:
    response = requests.get(f"{sim.api_url}/models/flux.1-dev", headers={"Authorization": "Basic !!!"}, timeout=5)
    assert response.status_code == 401


def test_a_generation_beyond_the_credits_left_is_a_402(start_simulator) -> None:
    client = ApiClient(start_simulator(credits=15).api_url)
    assert client.submit().status_code == 200  # 10 creative units
    response = client.submit()
    assert response.status_code == 402
    assert response.json()["code"] == "INSUFFICIENT_CREDITS"


@pytest.mark.parametrize(
    ("fields", "cost"),
    [
        ({}, 10),
        ({"numSamples": 4}, 40),
        ({"width": 512, "height": 512}, 3),
        ({"numInferenceSteps": 56}, 20),
        ({"modelId": "flux.1-schnell"}, 3),
        ({"width": 128, "height": 128, "numInferenceSteps": 1}, 1),
    ],
)
def test_a_dry_run_answers_269_with_the_cost(shared_api: ApiClient, fields, cost: int) -> None:
    response = shared_api.post("/generate/txt2img?dryRun=true", {**BASE, **fields})
    assert response.status_code == 269
    body = response.json()
    assert (body["creativeUnitsCost"], body["creativeUnitsDiscount"], body["job"]) == (cost, 0, {})
    assert isinstance(body["costDetails"], dict)


def test_a_dry_run_creates_nothing_and_costs_nothing(start_simulator) -> None:
    sim = start_simulator(credits=10)
    client = ApiClient(sim.api_url)
    for _ in range(3):
        assert client.post("/generate/txt2img?dryRun=true", BASE).status_code == 269
    assert client.get("/jobs").json()["jobs"] == []
    assert sim.stats()["jobs_created"] == 0
    assert client.submit().status_code == 200  # all 10 credits were still there


def test_a_dry_run_still_validates(shared_api: ApiClient) -> None:
    response = shared_api.post("/generate/txt2img?dryRun=true", {"modelId": "flux.1-dev"})
    assert response.status_code == 400
    assert '"prompt"' in response.json()["message"]


def test_a_dry_run_flag_that_is_not_a_boolean_is_a_400(shared_api: ApiClient) -> None:
    response = shared_api.post("/generate/txt2img?dryRun=maybe", BASE)
    assert response.status_code == 400
    assert '"dryRun"' in response.json()["message"]


def test_an_unknown_route_is_a_404_and_a_wrong_method_a_405(shared_api: ApiClient) -> None:
    unknown = shared_api.get("/no/such/thing")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"
    wrong = shared_api.get("/generate/txt2img")
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "POST"
