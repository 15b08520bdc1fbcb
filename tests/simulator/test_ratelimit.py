"""The per-key token bucket, as a pure object and over HTTP."""

from __future__ import annotations

import time

import pytest

from tests.simulator.helpers import ApiClient
from worker.simulator.ratelimit import TokenBucket, retry_after_header


@pytest.mark.parametrize(
    ("rate", "burst", "takes", "waits"),
    [
        (1.0, 2, [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
        (1.0, 2, [0.0, 0.0, 0.5], [0.0, 0.0, 0.5]),
        (2.0, 1, [0.0, 0.5, 0.6], [0.0, 0.0, 0.4]),
        (10.0, 3, [0.0, 0.0, 0.0, 100.0, 100.0, 100.0, 100.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1]),
    ],
)
def test_the_bucket_lets_a_burst_through_then_one_request_per_refill(rate, burst, takes, waits) -> None:
    bucket = TokenBucket(rate, burst, now=0.0)
    assert [round(bucket.take(t), 6) for t in takes] == waits


@pytest.mark.parametrize(("wait_s", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (2.9, "3")])
def test_retry_after_is_whole_seconds_rounded_up(wait_s: float, header: str) -> None:
    assert retry_after_header(wait_s) == header


def test_over_the_budget_the_api_answers_429_with_retry_after_until_a_token_returns(start_simulator) -> None:
    api = ApiClient(start_simulator(rate_limit_per_s=5.0, rate_limit_burst=2).api_url)
    assert [api.get("/models/flux.1-dev").status_code for _ in range(2)] == [200, 200]
    limited = api.get("/models/flux.1-dev")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json() == {"status": "error", "code": "RATE_LIMITED", "message": limited.json()["message"]}
    time.sleep(0.25)  # one token back at 5 per second
    assert api.get("/models/flux.1-dev").status_code == 200


def test_without_a_rate_limit_nothing_is_limited(shared_api: ApiClient) -> None:
    assert {shared_api.get("/models/flux.1-dev").status_code for _ in range(50)} == {200}
