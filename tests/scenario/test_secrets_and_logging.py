"""The API secret never leaks into logs, errors or reprs; each request leaves one DEBUG line."""

from __future__ import annotations

import base64
import logging
import time

import pytest

from tests.scenario.canned import Canned
from tests.scenario.conftest import SIM_KEY, SIM_SECRET
from worker.scenario.client import ScenarioClient
from worker.scenario.errors import BadRequest, NetworkError, NotFound, Unauthorized
from worker.scenario.models import asset_ids_of

BASIC_TOKEN = base64.b64encode(f"{SIM_KEY}:{SIM_SECRET}".encode()).decode()


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="worker.scenario")
    caplog.set_level(logging.DEBUG, logger="urllib3")
    return caplog


def everything_logged(caplog) -> str:
    return "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)


def test_a_full_call_sequence_logs_no_secret(sim, client, debug_logs):
    job = client.generate({"modelId": "flux.1-dev", "prompt": "a fox", "width": 256, "height": 256})
    deadline = time.monotonic() + 10
    while job["status"] != "success" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.get_job(job["jobId"])
    list(client.iter_jobs(page_size=1))
    asset = client.get_asset(asset_ids_of(job)[0])
    client.get_assets(asset_ids_of(job))
    client.download(asset["url"])
    client.estimate_cost({"modelId": "flux.1-dev", "prompt": "a fox"})
    with pytest.raises(NotFound):
        client.get_model("model_nope")

    logged = everything_logged(debug_logs)
    assert "POST /v1/generate/txt2img -> 200" in logged
    assert SIM_SECRET not in logged and BASIC_TOKEN not in logged


def test_each_request_logs_one_debug_line_with_method_path_status_and_time(canned, canned_client, debug_logs):
    canned.answer(Canned(body={"job": {"jobId": "job_1", "status": "queued"}}), Canned(status=404))
    canned_client.get_job("job_1")
    with pytest.raises(NotFound):
        canned_client.get_job("job_2")
    lines = [r.getMessage() for r in debug_logs.records if r.name == "worker.scenario"]
    assert len(lines) == 2
    assert lines[0].startswith("get_job GET /v1/jobs/job_1 -> 200 in ") and lines[0].endswith(" ms")
    assert lines[1].startswith("get_job GET /v1/jobs/job_2 -> 404 in ")


def test_a_download_is_logged_without_its_signed_query(canned, canned_client, debug_logs):
    canned.answer(Canned(body=b"png"))
    canned_client.download(f"{canned.url}/files/a.png?signature=topsecretsig")
    logged = "\n".join(r.getMessage() for r in debug_logs.records if r.name == "worker.scenario")
    assert "/files/a.png" in logged and "topsecretsig" not in logged


def test_an_unauthorized_error_and_the_client_never_show_the_secret(sim):
    wrong = "wrong-secret-value"
    with ScenarioClient(sim.api_url, SIM_KEY, wrong) as client:
        with pytest.raises(Unauthorized) as caught:
            client.get_job("job_1")
        shown = " ".join(
            [str(caught.value), repr(caught.value), str(caught.value.to_dict()), repr(client), str(client)]
        )
    assert "401" in str(caught.value)
    for secret in (wrong, base64.b64encode(f"{SIM_KEY}:{wrong}".encode()).decode()):
        assert secret not in shown


def test_a_server_that_echoes_the_credentials_has_them_masked_in_the_error(canned):
    secret = "echoed-secret-123"
    token = base64.b64encode(f"key-1:{secret}".encode()).decode()
    canned.answer(Canned(status=401, body={"message": f"bad credentials key-1:{secret} (Basic {token})"}))
    with ScenarioClient(canned.url, "key-1", secret) as client:
        with pytest.raises(Unauthorized) as caught:
            client.get_job("job_1")
    shown = str(caught.value) + repr(caught.value)
    assert secret not in shown and token not in shown
    assert "bad credentials key-1:***" in shown


@pytest.mark.parametrize(
    "body",
    [
        {"status": "error", "code": "BAD_KEY_{s}", "message": "m", "details": {"key": "{s}", "seen": ["{t}"]}},
        {"reason": "r", "hint": "use {s} elsewhere", "details": {"{s}": 1}},
        "plain text with {s} and {t}",
    ],
)
def test_a_secret_echoed_in_any_field_is_masked(canned, body):
    secret = "echoed-secret-789"
    token = base64.b64encode(f"key-1:{secret}".encode()).decode()

    def fill(value):
        if isinstance(value, str):
            return value.replace("{s}", secret).replace("{t}", token)
        if isinstance(value, dict):
            return {fill(k): fill(v) for k, v in value.items()}
        return [fill(v) for v in value] if isinstance(value, list) else value

    canned.answer(Canned(status=400, body=fill(body)))
    with ScenarioClient(canned.url, "key-1", secret) as client:
        with pytest.raises(BadRequest) as caught:
            client.get_job("job_1")
    error = caught.value
    shown = " ".join([str(error), repr(error), str(error.to_dict()), str(error.details), str(error.hint)])
    assert secret not in shown and token not in shown
    assert "***" in shown


@pytest.mark.parametrize("answer", [Canned(drop=True), Canned(body=b"{", short_by=50)])
def test_a_network_error_never_shows_the_secret(canned, debug_logs, answer):
    secret = "network-secret-456"
    canned.answer(answer)
    with ScenarioClient(canned.url, "key-1", secret) as client:
        with pytest.raises(NetworkError) as caught:
            client.get_job("job_1")
    shown = " ".join(
        [str(caught.value), repr(caught.value), str(caught.value.__cause__), everything_logged(debug_logs)]
    )
    assert "GET /jobs/job_1" in shown
    assert secret not in shown and base64.b64encode(f"key-1:{secret}".encode()).decode() not in shown
