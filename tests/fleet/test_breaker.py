"""One breaker for the fleet: opened by failures in a row, probed one request at a time, closed
by an answer; shared through a real Redis, or kept per process without one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from worker.fleet.breaker import FleetBreaker, LocalBreaker, ScenarioDown, is_failure

FAILURES = 3
PROBE_S = 0.3


@pytest.fixture(params=["redis", "local"])
def breakers(request, redis_url) -> Iterator[tuple]:
    """Two callers (two workers, or two threads of one process without Redis) sharing one breaker."""
    if request.param == "local":
        shared = LocalBreaker(failures_to_open=FAILURES, probe_every_s=PROBE_S)
        yield shared, shared
        return
    key = f"test-breaker:{uuid.uuid4().hex}"
    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    yield tuple(FleetBreaker(c, failures_to_open=FAILURES, probe_every_s=PROBE_S, key=key) for c in clients)
    clients[0].delete(f"{key}:failures", f"{key}:open", f"{key}:probe")
    for c in clients:
        c.close()


@pytest.mark.parametrize(
    ("status", "failure"),
    [(None, True), (500, True), (502, True), (503, True), (504, True), (200, False), (404, False), (429, False)],
)
def test_which_answers_say_scenario_is_not_serving(status, failure):
    assert is_failure(status) is failure


def test_failures_below_the_threshold_hold_nothing_back(breakers):
    one, other = breakers
    for _ in range(FAILURES - 1):
        one.admit()
        one.record(503)

    other.admit()  # no error
    assert not other.is_open()


def test_failures_in_a_row_from_anyone_open_it_for_everyone(breakers):
    one, other = breakers
    for caller in (one, other, one):
        caller.admit()
        caller.record(None)

    assert other.is_open()


def test_while_open_one_request_at_a_time_goes_out_as_a_probe(breakers):
    one, other = breakers
    for _ in range(FAILURES):
        one.admit()
        one.record(503)

    one.admit()  # the probe
    with pytest.raises(ScenarioDown) as held:
        other.admit()
    assert held.value.retry_after_s > 0
    one.record(503)  # the probe failed: still open, the next probe comes a probe interval later
    with pytest.raises(ScenarioDown):
        other.admit()
    time.sleep(PROBE_S + 0.1)
    other.admit()
    assert other.is_open()


def test_an_answer_to_a_probe_closes_it_for_everyone(breakers):
    one, other = breakers
    for _ in range(FAILURES):
        one.admit()
        one.record(503)
    time.sleep(PROBE_S + 0.1)

    other.admit()
    other.record(200)

    assert not one.is_open()
    one.admit()
    other.admit()


def test_an_answer_after_a_failure_starts_the_count_again(breakers):
    one, _ = breakers
    for _ in range(FAILURES - 1):
        one.admit()
        one.record(500)
    one.admit()
    one.record(200)
    for _ in range(FAILURES - 1):
        one.admit()
        one.record(500)

    assert not one.is_open()
