"""What /_sim/stats reports: answers, submissions, duplicates, concurrency, 429s and their retries."""

from __future__ import annotations

import threading
import time

import requests

from tests.simulator.helpers import ApiClient
from worker.simulator import Simulator


def test_answers_are_counted_by_endpoint_and_status(sim: Simulator, api: ApiClient) -> None:
    api.submit()
    api.submit(prompt="")
    api.get("/jobs/job_nope")
    api.get("/models/flux.1-dev")
    sim.faults.add_rule(endpoint="get_model", action="drop", times=1)
    try:
        api.get("/models/flux.1-dev")
    except requests.ConnectionError:
        pass
    stats = sim.stats()
    assert stats["requests"] == {
        "submit": {"200": 1, "400": 1},
        "get_job": {"404": 1},
        "get_model": {"200": 1, "dropped": 1},
    }
    assert stats["requests_total"] == 5
    assert stats["jobs_created"] == 1
    # One job, in whatever state its render has reached by now (a loaded machine moves it along).
    assert sum(stats["jobs"].values()) == 1


def test_the_http_stats_are_the_same_as_the_python_ones_and_reset_clears_them(sim: Simulator, api: ApiClient) -> None:
    api.submit()
    over_http = requests.get(f"{sim.url}/_sim/stats", timeout=5).json()
    assert over_http["requests"] == sim.stats()["requests"] == {"submit": {"200": 1}}
    reset = requests.post(f"{sim.url}/_sim/stats/reset", timeout=5).json()
    assert reset["requests"] == {} and reset["requests_total"] == 0 and reset["jobs_created"] == 0
    # The jobs themselves stay: only the counters are reset.
    assert sum(reset["jobs"].values()) == 1
    sim.reset_stats()
    assert sim.stats()["submissions_by_prompt"] == {}


def test_a_second_submission_of_the_same_input_counts_as_a_duplicate(sim: Simulator, api: ApiClient) -> None:
    api.submit("a red fox")
    api.submit("a red fox", numSamples=1)  # the default spelled out is the same input
    api.submit("a red fox", seed=5)
    api.submit("a blue fox")
    stats = sim.stats()
    assert stats["jobs_created"] == 4
    assert stats["duplicate_submissions"] == 1
    assert stats["submissions_by_prompt"] == {"a red fox": 3, "a blue fox": 1}


def test_the_concurrent_peak_counts_requests_handled_at_once(sim: Simulator) -> None:
    sim.faults.add_rule(endpoint="get_model", action="slow", delay_s=0.3)
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def call() -> None:
        client = ApiClient(sim.api_url)
        barrier.wait()
        codes.append(client.get("/models/flux.1-dev").status_code)
        client.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert codes == [200] * 8
    assert sim.stats()["concurrent_peak"] == 8


def test_a_429_is_recorded_with_when_it_was_retried(start_simulator) -> None:
    sim = start_simulator(rate_limit_per_s=5.0, rate_limit_burst=1)
    api = ApiClient(sim.api_url)
    job = api.submit_job()
    limited = api.get(f"/jobs/{job['jobId']}")
    assert limited.status_code == 429
    [entry] = sim.stats()["rate_limited"]
    assert entry["endpoint"] == "get_job"
    assert entry["request_key"] == f"get_job:{job['jobId']}"
    assert entry["retry_after_s"] == 1
    assert entry["retried_at"] is None
    api.get("/models/flux.1-dev")  # another request is not a retry
    assert sim.stats()["rate_limited"][0]["retried_at"] is None
    time.sleep(0.25)  # a token comes back at 5 per second
    assert api.get(f"/jobs/{job['jobId']}").status_code == 200
    [entry] = [e for e in sim.stats()["rate_limited"] if e["endpoint"] == "get_job"]
    assert entry["retried_at"] is not None and entry["retried_at"] > entry["at"]


def test_targeted_429s_on_submit_are_keyed_by_model_and_prompt(sim: Simulator, api: ApiClient) -> None:
    sim.faults.add_rule(endpoint="submit", status=429, retry_after="3", times=1)
    assert api.submit("a red fox").status_code == 429
    api.submit("a blue fox")
    assert sim.stats()["rate_limited"][0]["retried_at"] is None
    api.submit("a red fox")
    [entry] = sim.stats()["rate_limited"]
    assert entry["request_key"].startswith("submit:flux.1-dev:")
    assert entry["retry_after_s"] == 3
    assert entry["retried_at"] is not None
