"""The client against a canned HTTP server: what goes on the wire, and answers the simulator never gives."""

from __future__ import annotations

import base64
import email.utils
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.scenario.canned import Canned, CannedServer
from worker.scenario.client import BULK_ASSETS_MAX, ENDPOINTS, Estimate, ScenarioClient, Submission
from worker.scenario.errors import (
    BadRequest,
    Conflict,
    NetworkError,
    ParallelLimitReached,
    PaymentRequired,
    RateLimited,
    ServerError,
    UnexpectedResponse,
)

JOB = {"jobId": "job_1", "jobType": "flux", "status": "queued", "progress": 0}


def job_answer(**fields) -> Canned:
    return Canned(body={"job": {**JOB, **fields}})


# -- what the client sends --------------------------------------------------


def test_api_calls_carry_basic_auth_json_accept_and_the_user_agent(canned):
    canned.answer(job_answer())
    with ScenarioClient(f"{canned.url}/v1", "key-1", "secret-1", user_agent="test-agent/9") as client:
        client.generate({"modelId": "flux.1-dev", "prompt": "a fox"})
    (seen,) = canned.seen
    assert (seen.method, seen.path) == ("POST", "/v1/generate/txt2img")
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"key-1:secret-1").decode()
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["User-Agent"] == "test-agent/9"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.json() == {"modelId": "flux.1-dev", "prompt": "a fox"}


PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def without_proxies(monkeypatch) -> None:
    for name in (*PROXY_VARIABLES, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_a_proxy_the_environment_names_carries_every_request(canned, monkeypatch):
    without_proxies(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", canned.url)
    canned.answer(job_answer())
    canned.answer(job_answer())
    with ScenarioClient("http://scenario.invalid/v1", "key-1", "secret-1") as client:
        client.get_job("job_1")
        client.get_job("job_1")  # the proxies are read once per host: the second request goes the same way
    assert [(seen.path, seen.headers["Host"]) for seen in canned.seen] == [("/v1/jobs/job_1", "scenario.invalid")] * 2


def test_a_host_no_proxy_names_is_reached_directly(canned, monkeypatch):
    without_proxies(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    canned.answer(job_answer())
    with ScenarioClient(f"{canned.url}/v1", "key-1", "secret-1") as client:
        assert client.get_job("job_1")["jobId"] == "job_1"
    assert [seen.path for seen in canned.seen] == ["/v1/jobs/job_1"]


def test_a_download_never_sends_the_api_credentials(canned, canned_client):
    canned.answer(Canned(body=b"\x89PNG-bytes", headers={"Content-Type": "image/png"}))
    data = canned_client.download(f"{canned.url}/cdn/asset_1.png?signature=abc")
    assert data == b"\x89PNG-bytes"
    (seen,) = canned.seen
    assert "Authorization" not in seen.headers
    assert seen.query == {"signature": ["abc"]}


def test_a_download_follows_a_redirect_to_another_host_without_credentials(canned, canned_client):
    with CannedServer() as cdn:
        cdn.answer(Canned(body=b"image"))
        canned.answer(Canned(status=302, headers={"Location": f"{cdn.url}/real.png"}))
        assert canned_client.download(f"{canned.url}/signed.png") == b"image"
        assert "Authorization" not in cdn.seen[0].headers


def test_an_api_redirect_is_not_followed_so_credentials_stay_home(canned, canned_client):
    with CannedServer() as elsewhere:
        canned.answer(Canned(status=302, headers={"Location": f"{elsewhere.url}/v1/jobs/job_1"}))
        with pytest.raises(UnexpectedResponse) as caught:
            canned_client.get_job("job_1")
        assert caught.value.status == 302
        assert elsewhere.seen == []


def test_ids_are_quoted_so_they_cannot_change_the_route(canned, canned_client):
    canned.answer(job_answer(jobId="a/b?c"), Canned(body={"model": {"id": "m 1"}}))
    canned_client.get_job("a/b?c")
    canned_client.get_model("m 1")
    assert [s.path for s in canned.seen] == ["/v1/jobs/a%2Fb%3Fc", "/v1/models/m%201"]


@pytest.mark.parametrize("bad_id", ["", None])
def test_an_empty_id_is_refused_before_any_request(canned, canned_client, bad_id):
    with pytest.raises(ValueError, match="job_id"):
        canned_client.get_job(bad_id)
    assert canned.seen == []


def test_cancel_posts_the_cancel_action_and_returns_the_job(canned, canned_client):
    canned.answer(job_answer(status="canceled"))
    job = canned_client.cancel_job("job_1")
    assert job["status"] == "canceled"
    (seen,) = canned.seen
    assert (seen.method, seen.path, seen.json()) == ("POST", "/v1/jobs/job_1/action", {"action": "cancel"})


def test_generate_custom_posts_the_inputs_to_the_models_path(canned, canned_client):
    canned.answer(job_answer())
    canned_client.generate_custom("model_abc", {"prompt": "a fox"})
    (seen,) = canned.seen
    assert (seen.path, seen.json()) == ("/v1/generate/custom/model_abc", {"prompt": "a fox"})


def test_list_jobs_sends_the_filters_as_scenario_spells_them(canned, canned_client):
    canned.answer(Canned(body={"jobs": [JOB], "nextPaginationToken": "t2"}))
    after = datetime(2025, 6, 20, 17, 30, 5, 356789, tzinfo=timezone(timedelta(hours=2)))
    page = canned_client.list_jobs(status="success", updated_after=after, page_size=7, pagination_token="t1")
    assert page.jobs == [JOB] and page.next_token == "t2"
    assert canned.seen[0].query == {
        "status": ["success"],
        "updatedAfter": ["2025-06-20T15:30:05.356Z"],
        "pageSize": ["7"],
        "paginationToken": ["t1"],
    }


@pytest.mark.parametrize("page_size", [0, -1, True, 2.5])
def test_a_page_size_that_is_not_a_positive_whole_number_is_refused(canned_client, page_size):
    with pytest.raises(ValueError, match="page_size"):
        canned_client.list_jobs(page_size=page_size)


def test_iter_jobs_follows_the_tokens_to_the_last_page(canned, canned_client):
    canned.answer(
        Canned(body={"jobs": [{**JOB, "jobId": "a"}, {**JOB, "jobId": "b"}], "nextPaginationToken": "p2"}),
        Canned(body={"jobs": [{**JOB, "jobId": "c"}], "nextPaginationToken": ""}),
    )
    assert [j["jobId"] for j in canned_client.iter_jobs(page_size=2)] == ["a", "b", "c"]
    assert [s.query.get("paginationToken") for s in canned.seen] == [None, ["p2"]]


def test_iter_jobs_stops_when_a_token_comes_back_instead_of_paging_forever(canned, canned_client):
    page = Canned(body={"jobs": [JOB], "nextPaginationToken": "same"})
    canned.answer(page, page, page)
    with pytest.raises(UnexpectedResponse, match="twice"):
        list(canned_client.iter_jobs())


def test_get_assets_asks_for_at_most_200_ids_per_call(canned, canned_client):
    ids = [f"asset_{i}" for i in range(2 * BULK_ASSETS_MAX + 50)]
    for start in range(0, len(ids), BULK_ASSETS_MAX):
        canned.answer(Canned(body={"assets": [{"id": i} for i in ids[start : start + BULK_ASSETS_MAX]]}))
    assets = canned_client.get_assets(ids)
    assert [a["id"] for a in assets] == ids
    assert [len(s.json()["assetIds"]) for s in canned.seen] == [200, 200, 50]
    assert {s.path for s in canned.seen} == {"/v1/assets/get-bulk"}


def test_get_assets_of_no_ids_makes_no_request(canned, canned_client):
    assert canned_client.get_assets([]) == []
    assert canned.seen == []


def test_before_request_hears_each_endpoint_name_before_it_is_called(canned):
    heard: list[tuple[str, int]] = []
    canned.answer(job_answer(), Canned(body={"asset": {"id": "a1"}}), Canned(body=b"png"))
    with ScenarioClient(canned.url, "k", "secret-1", before_request=lambda e: heard.append((e, len(canned.seen)))) as c:
        c.get_job("job_1")
        c.get_asset("a1")
        c.download(f"{canned.url}/file.png")
    assert heard == [("get_job", 0), ("get_asset", 1), ("download", 2)]


def test_a_before_request_that_refuses_stops_the_request(canned):
    def refuse(endpoint: str) -> None:
        raise RateLimited("fleet budget spent", retry_after_s=1.0)

    with ScenarioClient(canned.url, "k", "secret-1", before_request=refuse) as c:
        with pytest.raises(RateLimited):
            c.get_job("job_1")
    assert canned.seen == []


# -- error answers the simulator never gives ---------------------------------


def test_x_should_retry_true_makes_a_400_retryable(canned, canned_client):
    canned.answer(Canned(status=400, body={"message": "busy"}, headers={"x-should-retry": "true"}))
    with pytest.raises(Conflict) as caught:
        canned_client.get_job("job_1")
    assert caught.value.retryable and caught.value.status == 400


def test_x_should_retry_false_makes_a_503_permanent(canned, canned_client):
    canned.answer(Canned(status=503, body={"message": "gone"}, headers={"x-should-retry": "false"}))
    with pytest.raises(UnexpectedResponse) as caught:
        canned_client.get_job("job_1")
    assert not caught.value.retryable


def test_the_longer_of_retry_after_ms_and_retry_after_is_the_wait(canned, canned_client):
    canned.answer(
        Canned(status=429, body={"message": "slow down"}, headers={"retry-after-ms": "1500", "Retry-After": "9"})
    )
    with pytest.raises(RateLimited) as caught:
        canned_client.generate({"modelId": "m", "prompt": "p"})
    assert caught.value.retry_after_s == 9.0


def test_a_429_for_the_parallel_limit_waits_its_remaining_seconds(canned, canned_client):
    body = {
        "reason": "Too many parallel jobs",
        "details": {"actionName": "parallelInferences", "actionLimit": 2},
        "remainingSeconds": 14,
    }
    canned.answer(Canned(status=429, body=body))
    with pytest.raises(ParallelLimitReached) as caught:
        canned_client.generate_custom("flux.1-dev", {"prompt": "p"})
    assert (caught.value.limit, caught.value.retry_after_s, caught.value.message) == (2, 14.0, body["reason"])


def test_a_plain_text_error_body_is_the_message(canned, canned_client):
    canned.answer(Canned(status=503, body="upstream connect error"))
    with pytest.raises(ServerError) as caught:
        canned_client.get_job("job_1")
    assert caught.value.message == "upstream connect error"


def test_a_retry_after_http_date_becomes_seconds_from_now(canned, canned_client):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    canned.answer(Canned(status=429, headers={"Retry-After": when}))
    with pytest.raises(RateLimited) as caught:
        canned_client.get_job("job_1")
    assert 20 <= caught.value.retry_after_s <= 31


def test_a_proxys_html_502_is_a_server_error(canned, canned_client):
    canned.answer(Canned(status=502, body="<html><body>502 Bad Gateway</body></html>"))
    with pytest.raises(ServerError) as caught:
        canned_client.get_job("job_1")
    assert caught.value.status == 502 and caught.value.retryable
    assert "502" in str(caught.value)


def test_a_402_is_payment_required_and_permanent(canned, canned_client):
    canned.answer(Canned(status=402, body={"status": "error", "code": "INSUFFICIENT_CREDITS", "message": "no units"}))
    with pytest.raises(PaymentRequired) as caught:
        canned_client.generate({"modelId": "m", "prompt": "p"})
    assert caught.value.code == "INSUFFICIENT_CREDITS" and not caught.value.retryable


def test_a_download_error_is_mapped_like_an_api_error(canned, canned_client):
    canned.answer(Canned(status=503, body="<html>busy</html>"))
    with pytest.raises(ServerError):
        canned_client.download(f"{canned.url}/a.png?sig=1")


@pytest.mark.parametrize("url", ["", "ftp://cdn/a.png", "/relative.png"])
def test_a_download_url_that_is_not_http_is_an_unexpected_response(canned_client, url):
    with pytest.raises(UnexpectedResponse, match="not http"):
        canned_client.download(url)


# -- broken answers and broken connections ------------------------------------


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("<html>oops</html>", "not JSON"),
        ({"jobs": []}, "'job'"),
        ({"job": "job_1"}, "'job'"),
        ({"job": {"status": "queued"}}, "'jobId'"),
        ({"job": {"jobId": "job_1"}}, "'status'"),
        ([JOB], "not a JSON object"),
    ],
)
def test_a_2xx_without_the_expected_job_is_an_unexpected_response_naming_what_is_missing(
    canned, canned_client, body, names
):
    canned.answer(Canned(body=body))
    with pytest.raises(UnexpectedResponse) as caught:
        canned_client.get_job("job_1")
    assert names in str(caught.value) and not caught.value.retryable


def test_a_job_list_without_jobs_is_an_unexpected_response(canned, canned_client):
    canned.answer(Canned(body={"items": []}))
    with pytest.raises(UnexpectedResponse, match="'jobs'"):
        canned_client.list_jobs()


@pytest.mark.parametrize(
    ("status", "body", "cost"),
    [
        (269, {"creativeUnitsCost": 5}, 5.0),
        (200, {"job": {"creativeUnitsCost": 2.5}}, 2.5),
        (200, {"job": {"billing": {"creativeUnitsCost": 7, "cuDiscount": 0}}}, 7.0),
    ],
)
def test_estimate_cost_reads_the_cost_wherever_the_dry_run_puts_it(canned, canned_client, status, body, cost):
    canned.answer(Canned(status=status, body=body))
    assert canned_client.estimate_cost({"modelId": "m", "prompt": "p"}) == cost
    assert canned.seen[0].query == {"dryRun": ["true"]}


def test_a_dry_run_without_a_cost_is_an_unexpected_response(canned, canned_client):
    canned.answer(Canned(status=269, body={"job": JOB}))
    with pytest.raises(UnexpectedResponse, match="creativeUnitsCost"):
        canned_client.estimate_cost({"modelId": "m", "prompt": "p"})


def test_a_dropped_connection_is_a_network_error(canned, canned_client):
    canned.answer(Canned(drop=True))
    with pytest.raises(NetworkError) as caught:
        canned_client.get_job("job_1")
    assert caught.value.retryable and caught.value.__cause__ is not None


def test_a_body_cut_short_is_a_network_error(canned, canned_client):
    canned.answer(Canned(body=b"half an image", short_by=100))
    with pytest.raises(NetworkError):
        canned_client.download(f"{canned.url}/a.png")


def test_a_refused_connection_is_a_network_error(canned):
    with CannedServer() as gone:
        url = gone.url
    with ScenarioClient(url, "k", "secret-1", connect_timeout_s=1.0) as client:
        with pytest.raises(NetworkError, match="GET /jobs/job_1"):
            client.get_job("job_1")


def test_the_pool_reuses_the_connection_after_an_error_answer(canned, canned_client):
    canned.answer(Canned(status=500, body={"message": "boom"}), job_answer())
    with pytest.raises(ServerError):
        canned_client.get_job("job_1")
    assert canned_client.get_job("job_1")["jobId"] == "job_1"


def test_a_bad_request_keeps_the_servers_code_and_message(canned, canned_client):
    canned.answer(
        Canned(status=400, body={"status": "error", "code": "INVALID_PARAMETER", "message": '"prompt" is required'})
    )
    with pytest.raises(BadRequest) as caught:
        canned_client.generate({"modelId": "m"})
    assert (caught.value.code, caught.value.message) == ("INVALID_PARAMETER", '"prompt" is required')


# -- submissions, dry runs, uploads, team limits, models -----------------------


def test_submit_custom_returns_the_job_and_its_cost(canned, canned_client):
    canned.answer(Canned(body={"job": JOB, "creativeUnitsCost": 7.5, "creativeUnitsDiscount": 1}))
    submitted = canned_client.submit_custom("flux.1-dev", {"prompt": "a fox", "seed": "42"})
    assert submitted == Submission(job=JOB, creative_units_cost=7.5, creative_units_discount=1.0)
    (seen,) = canned.seen
    assert (seen.method, seen.path, seen.json()) == (
        "POST",
        "/v1/generate/custom/flux.1-dev",
        {"prompt": "a fox", "seed": "42"},
    )


@pytest.mark.parametrize(
    ("body", "cost", "discount"),
    [
        ({"job": JOB}, None, None),
        ({"job": {**JOB, "billing": {"cuCost": 4, "cuDiscount": 0}}}, 4.0, 0.0),
        ({"job": {**JOB, "billing": {"cuCost": 4}}, "creativeUnitsCost": 5}, 5.0, None),
    ],
)
def test_submit_txt2img_reads_the_cost_wherever_it_is_or_none(canned, canned_client, body, cost, discount):
    canned.answer(Canned(body=body))
    submitted = canned_client.submit_txt2img({"modelId": "m", "prompt": "p"})
    assert (submitted.job["jobId"], submitted.creative_units_cost, submitted.creative_units_discount) == (
        "job_1",
        cost,
        discount,
    )
    assert canned.seen[0].path == "/v1/generate/txt2img"


def test_a_submission_with_a_broken_cost_is_an_unexpected_response(canned, canned_client):
    canned.answer(Canned(body={"job": JOB, "creativeUnitsCost": "lots"}))
    with pytest.raises(UnexpectedResponse, match="creativeUnitsCost"):
        canned_client.submit_custom("m", {"prompt": "p"})


def test_estimate_on_the_custom_route_is_a_dry_run_of_the_models_inputs(canned, canned_client):
    body = {"creativeUnitsCost": 12, "creativeUnitsDiscount": 2, "costDetails": {}, "job": {}}
    canned.answer(Canned(status=269, body=body), Canned(status=269, body=body))
    assert canned_client.estimate(model_id="model_upscale", inputs={"image": "asset_1"}) == Estimate(12.0, 2.0)
    assert canned_client.estimate_cost(model_id="model_upscale", inputs={"image": "asset_1"}) == 12.0
    seen = canned.seen[0]
    assert (seen.path, seen.query, seen.json()) == (
        "/v1/generate/custom/model_upscale",
        {"dryRun": ["true"]},
        {"image": "asset_1"},
    )


@pytest.mark.parametrize(
    "arguments",
    [{}, {"params": {"prompt": "p"}, "model_id": "m"}],
)
def test_estimate_needs_exactly_one_of_params_or_a_model(canned, canned_client, arguments):
    with pytest.raises(ValueError, match="either params"):
        canned_client.estimate(**arguments)
    assert canned.seen == []


def test_upload_image_posts_a_data_url_and_returns_the_asset(canned, canned_client):
    asset = {"id": "asset_up1", "mimeType": "image/png", "kind": "image", "source": "uploaded"}
    canned.answer(Canned(body={"asset": asset}))
    assert canned_client.upload_image("ref.png", b"\x89PNG-bytes", "image/png") == asset
    (seen,) = canned.seen
    assert (seen.method, seen.path) == ("POST", "/v1/assets")
    assert seen.json() == {
        "name": "ref.png",
        "image": "data:image/png;base64," + base64.b64encode(b"\x89PNG-bytes").decode(),
    }


@pytest.mark.parametrize(
    ("name", "data", "mime_type", "named"),
    [
        ("", b"x", "image/png", "name"),
        ("a.png", b"", "image/png", "data"),
        ("a.png", "text", "image/png", "data"),
        ("a.png", b"x", "video/mp4", "mime_type"),
        ("a.png", b"x", "image/png;x", "mime_type"),
    ],
)
def test_an_upload_with_a_bad_argument_is_refused_before_any_request(
    canned, canned_client, name, data, mime_type, named
):
    with pytest.raises(ValueError, match=named):
        canned_client.upload_image(name, data, mime_type)
    assert canned.seen == []


LIMITS = {
    "parallelInferences": 4,
    "parallelCustomJobs": 2,
    "creativeUnits": 10000,
    "inferenceBatchSize": 8,
    "minCooldown": 0,
    "maxCooldown": 60,
}


@pytest.mark.parametrize("body", [{"limits": LIMITS}, LIMITS])
def test_get_team_limits_unwraps_the_limits_or_takes_them_at_the_top(canned, canned_client, body):
    canned.answer(Canned(body=body))
    assert canned_client.get_team_limits("team_1") == LIMITS
    assert canned.seen[0].path == "/v1/teams/team_1/limits"


def test_team_limits_that_are_not_an_object_are_an_unexpected_response(canned, canned_client):
    canned.answer(Canned(body={"limits": [1, 2]}))
    with pytest.raises(UnexpectedResponse, match="limits"):
        canned_client.get_team_limits("team_1")


def test_get_model_returns_its_inputs(canned, canned_client):
    inputs = [{"name": "prompt", "type": "string", "required": {"always": True}}]
    canned.answer(
        Canned(body={"model": {"id": "flux.1-dev", "inputs": inputs}}),
        Canned(body={"model": {"id": "m", "inputs": "x"}}),
    )
    assert canned_client.get_model("flux.1-dev")["inputs"] == inputs
    with pytest.raises(UnexpectedResponse, match="inputs"):
        canned_client.get_model("m")


def test_the_new_endpoints_are_named_for_before_request(canned):
    heard: list[str] = []
    canned.answer(Canned(body={"asset": {"id": "a"}}), Canned(body={"limits": {}}))
    with ScenarioClient(canned.url, "k", "secret-1", before_request=heard.append) as client:
        client.upload_image("a.png", b"x", "image/png")
        client.get_team_limits("team_1")
    assert heard == ["upload_asset", "get_team_limits"]
    assert set(heard) <= set(ENDPOINTS)


def test_a_misplaced_updated_after_is_refused_before_any_request(canned, canned_client):
    with pytest.raises(ValueError, match="created_after"):
        canned_client.list_jobs(updated_after="2025-01-01T00:00:00.000Z")
    with pytest.raises(ValueError, match="created_after"):
        next(canned_client.iter_jobs(updated_after="2025-01-01T00:00:00.000Z"))
    assert canned.seen == []


def test_iter_jobs_sends_its_filters_on_every_page(canned, canned_client):
    canned.answer(
        Canned(body={"jobs": [JOB], "nextPaginationToken": "p2"}),
        Canned(body={"jobs": [], "nextPaginationToken": None}),
    )
    list(canned_client.iter_jobs(types=["flux", "custom"], updated_after="2025-01-01T00:00:00.000Z", page_size=5))
    for seen in canned.seen:
        assert seen.query["types"] == ["flux,custom"] and seen.query["updatedAfter"] == ["2025-01-01T00:00:00.000Z"]
    assert [s.query.get("paginationToken") for s in canned.seen] == [None, ["p2"]]
