"""Fault injection: random rates, targeted rules, seeded repeatability, and the HTTP controls."""

from __future__ import annotations

import threading

import pytest
import requests

from tests.harness import wait_until
from tests.simulator.helpers import ApiClient
from worker.simulator import Simulator


@pytest.mark.parametrize(
    ("rate", "status", "code"),
    [
        ("rate_429", 429, "RATE_LIMITED"),
        ("rate_500", 500, "INTERNAL_ERROR"),
        ("rate_502", 502, "BAD_GATEWAY"),
        ("rate_503", 503, "SERVICE_UNAVAILABLE"),
    ],
)
def test_a_random_error_rate_of_one_answers_that_error_every_time(start_simulator, rate, status, code) -> None:
    api = ApiClient(start_simulator(**{rate: 1.0}).api_url)
    for _ in range(3):
        response = api.get("/models/flux.1-dev")
        assert response.status_code == status
        assert response.json()["status"] == "error" and response.json()["code"] == code
    assert (response.headers.get("Retry-After") == "1") is (status == 429)


def test_a_random_drop_rate_of_one_closes_the_connection_without_an_answer(start_simulator) -> None:
    api = ApiClient(start_simulator(rate_drop=1.0).api_url)
    with pytest.raises(requests.ConnectionError):
        api.get("/models/flux.1-dev")


def test_a_random_slow_rate_of_one_outlasts_a_short_client_timeout(start_simulator) -> None:
    api = ApiClient(start_simulator(rate_slow=1.0, slow_s=2.0).api_url)
    with pytest.raises(requests.ReadTimeout):
        api.get("/models/flux.1-dev", timeout=0.2)


def test_random_job_failures_do_not_touch_the_http_answers(start_simulator) -> None:
    api = ApiClient(start_simulator(rate_job_failure=1.0).api_url)
    assert api.submit().status_code == 200


def test_a_targeted_rule_hits_only_matching_requests_and_only_so_many_times(sim: Simulator, api: ApiClient) -> None:
    sim.faults.add_rule(endpoint="submit", prompt_contains="dragon", status=500, times=2)
    assert api.submit("a red DRAGON").status_code == 500
    assert api.submit("a red fox").status_code == 200
    assert api.submit("a dragon egg").status_code == 500
    assert api.submit("a dragon egg").status_code == 200


def test_a_targeted_429_carries_the_retry_after_given(sim: Simulator, api: ApiClient) -> None:
    sim.faults.add_rule(endpoint="submit", status=429, retry_after="2", times=1)
    limited = api.submit()
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert api.submit().status_code == 200


def test_a_drop_rule_for_one_job_drops_only_that_jobs_polls(sim: Simulator, api: ApiClient) -> None:
    target, other = api.submit_job("one")["jobId"], api.submit_job("two")["jobId"]
    sim.faults.add_rule(endpoint="get_job", job_id=target, action="drop", times=1)
    assert api.get(f"/jobs/{other}").status_code == 200
    with pytest.raises(requests.ConnectionError):
        api.get(f"/jobs/{target}")
    assert api.get(f"/jobs/{target}").status_code == 200


def test_a_slow_rule_delays_the_answer_past_a_short_client_timeout(sim: Simulator, api: ApiClient) -> None:
    sim.faults.add_rule(endpoint="get_model", action="slow", delay_s=2.0, times=1)
    with pytest.raises(requests.ReadTimeout):
        api.get("/models/flux.1-dev", timeout=0.2)
    assert api.get("/models/flux.1-dev", timeout=2).status_code == 200


def test_respond_after_creates_the_job_but_loses_the_answer(sim: Simulator, api: ApiClient) -> None:
    sim.faults.add_rule(endpoint="submit", action="respond_after", status=502, times=1)
    assert api.submit().status_code == 502
    assert sim.stats()["jobs_created"] == 1
    assert len(api.get("/jobs").json()["jobs"]) == 1


def test_drop_after_creates_the_job_and_closes_the_connection(sim: Simulator, api: ApiClient) -> None:
    sim.faults.add_rule(endpoint="submit", action="drop_after", times=1)
    with pytest.raises(requests.ConnectionError):
        api.submit()
    assert sim.stats()["jobs_created"] == 1


def give_up_on_a_submit(api: ApiClient, prompt: str) -> None:
    api.post("/generate/txt2img", {"modelId": "flux.1-dev", "prompt": prompt}, timeout=0.2)


def test_a_hold_rule_keeps_the_request_until_released_then_answers_it(sim: Simulator) -> None:
    hold = sim.faults.add_rule(endpoint="submit", action="hold", prompt_contains="held", times=1)
    answers: list[int] = []
    sender = threading.Thread(target=lambda: answers.append(ApiClient(sim.api_url).submit("a held fox").status_code))
    sender.start()
    wait_until(lambda: sim.faults.held(hold) == 1, 5, "the simulator to hold the request", every_s=0.01)
    assert sim.stats()["jobs_created"] == 0 and answers == []  # held: nothing made, nothing answered
    assert sim.faults.release(hold) == 1
    sender.join(5)
    assert answers == [200]
    assert sim.stats()["jobs_created"] == 1


def test_a_held_submit_whose_client_gave_up_still_makes_its_job_on_release(sim: Simulator, api: ApiClient) -> None:
    hold = sim.faults.add_rule(endpoint="submit", action="hold", times=1)
    with pytest.raises(requests.ReadTimeout):
        give_up_on_a_submit(api, "an abandoned fox")
    assert sim.faults.held(hold) == 1 and sim.stats()["jobs_created"] == 0
    sim.faults.release(hold)
    wait_until(lambda: sim.stats()["jobs_created"] == 1, 5, "the held submit to make its job")
    assert api.submit("the next fox").status_code == 200  # the rule wore out with its one use


def test_a_released_hold_lets_later_requests_pass_at_once(sim: Simulator, api: ApiClient) -> None:
    hold = sim.faults.add_rule(endpoint="get_model", action="hold")
    sim.faults.release(hold)
    assert [api.get("/models/flux.1-dev", timeout=2).status_code for _ in range(2)] == [200, 200]
    assert sim.faults.held(hold) == 2


def test_an_unreleased_hold_lets_go_after_its_limit_and_when_the_faults_are_cleared(
    sim: Simulator, api: ApiClient
) -> None:
    sim.faults.add_rule(endpoint="get_model", action="hold", delay_s=0.1, times=1)
    assert api.get("/models/flux.1-dev", timeout=5).status_code == 200
    hold = sim.faults.add_rule(endpoint="get_model", action="hold", times=1)
    answers: list[int] = []
    getter = threading.Thread(
        target=lambda: answers.append(ApiClient(sim.api_url).get("/models/flux.1-dev").status_code)
    )
    getter.start()
    wait_until(lambda: sim.faults.held(hold) == 1, 5, "the simulator to hold the request", every_s=0.01)
    sim.faults.clear()
    getter.join(5)
    assert answers == [200]
    with pytest.raises(ValueError, match="rule_id"):
        sim.faults.held(hold)  # cleared with the rest


def test_a_hold_is_counted_and_released_over_http(sim: Simulator, api: ApiClient) -> None:
    rules = f"{sim.url}/_sim/faults/rules"
    added = requests.post(rules, json={"endpoint": "submit", "action": "hold", "times": 1}, timeout=5).json()
    with pytest.raises(requests.ReadTimeout):
        give_up_on_a_submit(api, "a fox held over http")
    holds = requests.get(f"{sim.url}/_sim/faults", timeout=5).json()["holds"]
    assert holds == {str(added["id"]): {"held": 1, "released": False}}
    released = requests.post(f"{sim.url}/_sim/faults/holds/{added['id']}/release", timeout=5)
    assert released.status_code == 200 and released.json() == {"id": added["id"], "held": 1}
    wait_until(lambda: sim.stats()["jobs_created"] == 1, 5, "the held submit to make its job")


@pytest.mark.parametrize("rule_id", ["999", "one"])
def test_releasing_what_is_no_hold_is_a_400_naming_the_rule_id(sim: Simulator, rule_id: str) -> None:
    response = requests.post(f"{sim.url}/_sim/faults/holds/{rule_id}/release", timeout=5)
    assert response.status_code == 400
    assert "rule id" in response.json()["message"].replace("_", " ")


def test_a_rule_without_times_lasts_until_cleared(sim: Simulator, api: ApiClient) -> None:
    sim.faults.add_rule(endpoint="*", status=503)
    assert [api.get("/models/flux.1-dev").status_code for _ in range(3)] == [503, 503, 503]
    sim.faults.clear()
    assert api.get("/models/flux.1-dev").status_code == 200


def test_a_wildcard_rule_reaches_the_download_too(sim: Simulator, api: ApiClient) -> None:
    final, _ = api.wait_final(api.submit_job(width=128, height=128)["jobId"])
    url = api.get(f"/assets/{final['metadata']['assetIds'][0]}").json()["asset"]["url"]
    sim.faults.add_rule(endpoint="*", status=500, times=1)
    assert requests.get(url, timeout=5).status_code == 500
    assert requests.get(url, timeout=5).status_code == 200


def test_rates_change_at_run_time(sim: Simulator, api: ApiClient) -> None:
    assert api.get("/models/flux.1-dev").status_code == 200
    sim.faults.set_rates(rate_502=1.0)
    assert api.get("/models/flux.1-dev").status_code == 502
    sim.faults.set_rates(rate_502=0.0)
    assert api.get("/models/flux.1-dev").status_code == 200


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("set_rates", {"rate_500": 1.5}),
        ("set_rates", {"rate_teapot": 0.1}),
        ("add_rule", {"endpoint": "nowhere"}),
        ("add_rule", {"action": "explode"}),
        ("add_rule", {"status": 200}),
        ("add_rule", {"times": 0}),
        ("add_rule", {"action": "hold", "delay_s": -1}),
        ("held", {"rule_id": 1}),
        ("release", {"rule_id": 1}),
        ("job_duration", {"seconds": -1}),
        ("fail_jobs", {"error": ""}),
    ],
)
def test_bad_fault_settings_are_refused(sim: Simulator, call: str, kwargs) -> None:
    with pytest.raises(ValueError):
        getattr(sim.faults, call)(**kwargs)


def outcomes(sim: Simulator, count: int) -> list[object]:
    api = ApiClient(sim.api_url)
    seen: list[object] = []
    for _ in range(count):
        try:
            seen.append(api.get("/models/flux.1-dev").status_code)
        except requests.ConnectionError:
            seen.append("dropped")
    return seen


def test_the_same_seed_and_requests_give_the_same_faults(start_simulator) -> None:
    rates = {"rate_429": 0.15, "rate_500": 0.15, "rate_502": 0.1, "rate_503": 0.1, "rate_drop": 0.1}
    first = outcomes(start_simulator(seed=7, **rates), 40)
    second = outcomes(start_simulator(seed=7, **rates), 40)
    other = outcomes(start_simulator(seed=8, **rates), 40)
    assert first == second
    assert len(set(first)) >= 3, "the rates should give a mix of outcomes"
    assert other != first


def test_faults_are_set_and_cleared_over_http(sim: Simulator, api: ApiClient) -> None:
    control = requests.Session()
    assert control.post(f"{sim.url}/_sim/faults", json={"rate_503": 1.0}, timeout=5).status_code == 200
    assert control.get(f"{sim.url}/_sim/faults", timeout=5).json()["rates"]["rate_503"] == 1.0
    assert api.get("/models/flux.1-dev").status_code == 503
    cleared = control.delete(f"{sim.url}/_sim/faults", timeout=5).json()
    assert cleared["rates"]["rate_503"] == 0.0 and cleared["rules"] == []
    rule = {"endpoint": "get_model", "status": 502, "times": 1}
    added = control.post(f"{sim.url}/_sim/faults/rules", json=rule, timeout=5).json()
    assert added["rules"][0]["id"] == added["id"] and added["rules"][0]["times"] == 1
    assert api.get("/models/flux.1-dev").status_code == 502
    assert api.get("/models/flux.1-dev").status_code == 200


def test_job_rules_are_set_over_http(sim: Simulator, api: ApiClient) -> None:
    rules = f"{sim.url}/_sim/faults/rules"
    fail = {"kind": "fail_jobs", "prompt_contains": "cursed", "error": "NSFW content detected"}
    assert requests.post(rules, json=fail, timeout=5).status_code == 200
    quick = {"kind": "job_duration", "prompt_contains": "cursed", "seconds": 0}
    assert requests.post(rules, json=quick, timeout=5).status_code == 200
    final, _ = api.wait_final(api.submit_job("a cursed ring")["jobId"], deadline_s=1.0)
    assert final["metadata"]["error"] == "NSFW content detected"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sim/faults", {"rate_500": 1.5}),
        ("/_sim/faults", {"rate_teapot": 0.5}),
        ("/_sim/faults", [1]),
        ("/_sim/faults/rules", {"kind": "meteor"}),
        ("/_sim/faults/rules", {"endpoint": "submit", "colour": "red"}),
        ("/_sim/faults/rules", {"kind": "job_duration"}),
    ],
)
def test_bad_fault_settings_over_http_are_a_400(sim: Simulator, path: str, body) -> None:
    response = requests.post(sim.url + path, json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["status"] == "error" and response.json()["message"]


def test_the_control_endpoints_are_never_faulted(start_simulator) -> None:
    sim = start_simulator(rate_500=1.0, rate_drop=1.0)
    assert requests.get(f"{sim.url}/_sim/stats", timeout=5).status_code == 200


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 408, 409, 429, 500, 502, 503, 504])
def test_a_targeted_rule_answers_any_status_in_the_contract_with_the_error_body(start_simulator, status) -> None:
    sim = start_simulator()
    sim.faults.add_rule(endpoint="get_model", status=status, times=1)
    api = ApiClient(sim.api_url)

    refused = api.get("/models/flux.1-dev")
    after = api.get("/models/flux.1-dev")

    assert refused.status_code == status
    body = refused.json()
    assert body["status"] == "error" and body["code"] and body["message"]
    assert after.status_code == 200  # times=1: the next request is served
