"""The client against the project's Scenario simulator, over real sockets."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.scenario.conftest import SIM_KEY
from worker.scenario.client import ScenarioClient
from worker.scenario.errors import (
    BadRequest,
    Forbidden,
    NetworkError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
)
from worker.scenario.models import asset_ids_of, error_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FINAL = {"success", "failure", "canceled"}


def params(prompt: str = "a red fox in the snow", **extra) -> dict:
    return {"modelId": "flux.1-dev", "prompt": prompt, "width": 256, "height": 256, **extra}


def wait_until_final(client: ScenarioClient, job_id: str, *, within_s: float = 10.0) -> dict:
    deadline = time.monotonic() + within_s
    while True:
        job = client.get_job(job_id)
        if job["status"] in FINAL or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_a_generation_runs_from_submit_to_a_downloaded_png(client):
    job = client.generate(params(numSamples=2))
    assert job["status"] == "queued" and job["jobId"].startswith("job_")

    done = wait_until_final(client, job["jobId"])
    assert done["status"] == "success"
    assert [h["status"] for h in done["statusHistory"]][-1] == "success"
    ids = asset_ids_of(done)
    assert len(ids) == 2

    asset = client.get_asset(ids[0])
    assert asset["id"] == ids[0] and asset["mimeType"] == "image/png"
    assert sorted(a["id"] for a in client.get_assets(ids)) == sorted(ids)

    image = client.download(asset["url"])
    assert image.startswith(PNG_SIGNATURE)
    assert len(image) == asset["properties"]["size"]


def test_generate_custom_starts_a_job_on_the_model_in_the_path(client):
    job = client.generate_custom("flux.1-schnell", {"prompt": "a lighthouse"})
    assert job["metadata"]["input"]["modelId"] == "flux.1-schnell"
    assert client.get_job(job["jobId"])["jobId"] == job["jobId"]


def test_submit_custom_returns_the_started_job(client):
    submitted = client.submit_custom("flux.1-dev", {"prompt": "a lighthouse", "width": 256, "height": 256})
    assert submitted.job["status"] == "queued"
    assert wait_until_final(client, submitted.job["jobId"])["status"] == "success"


def test_a_dry_run_on_the_custom_route_costs_the_same_as_on_txt2img_and_starts_nothing(client):
    inputs = {"prompt": "a lighthouse", "width": 256, "height": 256}
    custom = client.estimate(model_id="flux.1-dev", inputs=inputs)
    assert custom.creative_units_cost > 0
    assert custom.creative_units_cost == client.estimate_cost({"modelId": "flux.1-dev", **inputs})
    assert list(client.iter_jobs()) == []


def test_estimate_cost_answers_a_cost_without_starting_a_job(client):
    before = len(list(client.iter_jobs()))
    cost = client.estimate_cost(params())
    assert cost > 0
    assert len(list(client.iter_jobs())) == before


def test_list_jobs_pages_through_every_job_with_a_small_page_size(client):
    started = {client.generate(params(f"picture {i}"))["jobId"] for i in range(5)}
    # Paging orders by last change: jobs still moving could jump past the cursor.
    for job_id in started:
        assert wait_until_final(client, job_id)["status"] == "success"

    first = client.list_jobs(page_size=2)
    assert len(first.jobs) == 2 and first.next_token is not None
    listed = [job["jobId"] for job in client.iter_jobs(page_size=2)]
    assert sorted(listed) == sorted(started)


def test_list_jobs_filters_by_status_and_update_time(client):
    job = client.generate(params())
    wait_until_final(client, job["jobId"])
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    succeeded = [j["jobId"] for j in client.iter_jobs(status="success", updated_after=an_hour_ago)]
    assert succeeded == [job["jobId"]]
    assert list(client.iter_jobs(status="success", updated_after=datetime.now(timezone.utc) + timedelta(hours=1))) == []


def test_a_canceled_job_ends_canceled(client):
    job = client.generate(params())
    client.cancel_job(job["jobId"])
    assert wait_until_final(client, job["jobId"])["status"] == "canceled"


def test_a_missing_field_is_a_bad_request_naming_the_field(client):
    with pytest.raises(BadRequest) as caught:
        client.generate({"prompt": "no model"})
    assert "modelId" in caught.value.message
    assert caught.value.code == "INVALID_PARAMETER" and not caught.value.retryable


def test_a_wrong_secret_is_unauthorized(sim):
    with ScenarioClient(sim.api_url, SIM_KEY, "not-the-secret") as client:
        with pytest.raises(Unauthorized) as caught:
            client.get_model("flux.1-dev")
    assert caught.value.status == 401 and not caught.value.retryable


def test_another_teams_private_model_is_forbidden(client):
    with pytest.raises(Forbidden):
        client.generate(params(modelId="model_private-other-team"))


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_job("job_doesnotexist000000000000"),
        lambda c: c.get_model("model_doesnotexist"),
        lambda c: c.get_asset("asset_doesnotexist0000000000"),
        lambda c: c.generate(params(modelId="model_doesnotexist")),
    ],
)
def test_an_unknown_resource_is_not_found(client, call):
    with pytest.raises(NotFound):
        call(client)


def test_a_500_is_a_server_error_and_the_next_call_goes_through(client, sim):
    sim.faults.add_rule(endpoint="submit", status=500, times=1)
    with pytest.raises(ServerError) as caught:
        client.generate(params())
    assert caught.value.retryable
    assert client.generate(params())["status"] == "queued"


def test_a_429_is_rate_limited_with_its_retry_after(client, sim):
    sim.faults.add_rule(endpoint="submit", status=429, retry_after="2", times=1)
    with pytest.raises(RateLimited) as caught:
        client.generate(params())
    assert caught.value.retry_after_s == 2.0


def test_a_dropped_connection_is_a_network_error(client, sim):
    job = client.generate(params())
    sim.faults.add_rule(endpoint="get_job", action="drop", times=1)
    with pytest.raises(NetworkError):
        client.get_job(job["jobId"])
    assert client.get_job(job["jobId"])["jobId"] == job["jobId"]


def test_a_slow_answer_past_the_read_timeout_is_a_network_error(sim):
    with ScenarioClient(sim.api_url, SIM_KEY, "sim-secret", read_timeout_s=0.3) as client:
        job = client.generate(params())
        sim.faults.add_rule(endpoint="get_job", action="slow", delay_s=2, times=1)
        with pytest.raises(NetworkError, match="Timeout"):
            client.get_job(job["jobId"])


def test_a_failing_download_is_mapped_like_the_api(client, sim):
    job = client.generate(params())
    asset_id = asset_ids_of(wait_until_final(client, job["jobId"]))[0]
    url = client.get_asset(asset_id)["url"]
    sim.faults.add_rule(endpoint="download", status=503, times=1)
    with pytest.raises(ServerError):
        client.download(url)
    assert client.download(url).startswith(PNG_SIGNATURE)


def test_a_failed_job_carries_its_error_text(client, sim):
    sim.faults.fail_jobs(prompt_contains="doomed", error="Inference failed: bad seed", times=1)
    job = client.generate(params("a doomed picture"))
    done = wait_until_final(client, job["jobId"])
    assert done["status"] == "failure"
    assert error_of(done) == "Inference failed: bad seed" and asset_ids_of(done) == []
