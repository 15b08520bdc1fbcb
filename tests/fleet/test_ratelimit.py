"""The fleet-wide request budget, against a real Redis."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from worker.fleet.ratelimit import FleetRateLimiter, RateLimiterUnavailable, RateLimitTimeout

pytestmark = pytest.mark.redis


@pytest.fixture
def key() -> str:
    return f"test-ratelimit:{uuid.uuid4().hex}"


@pytest.fixture
def client(redis_url) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_acquisitions(limiter: FleetRateLimiter, duration_s: float) -> int:
    """How many requests the limiter lets through before `duration_s` has passed."""
    deadline = time.monotonic() + duration_s
    count = 0
    while (left_s := deadline - time.monotonic()) > 0:
        try:
            limiter.acquire(timeout_s=left_s)
        except RateLimitTimeout:
            break
        count += 1
    return count


@pytest.mark.parametrize("rate_per_s", [0, 0.0, -1, -0.5])
def test_a_rate_that_is_not_positive_is_refused_by_name(rate_per_s):
    with pytest.raises(ValueError, match="rate_per_s"):
        FleetRateLimiter(redis.Redis(), rate_per_s=rate_per_s)


@pytest.mark.parametrize(
    ("rate_per_s", "burst", "expected"),
    [(0.2, None, 1), (1, None, 1), (2.5, None, 3), (10, None, 10), (10, 4, 4), (0.5, 2, 2)],
)
def test_the_burst_defaults_to_one_second_of_requests_rounded_up(rate_per_s, burst, expected):
    assert FleetRateLimiter(redis.Redis(), rate_per_s=rate_per_s, burst=burst).burst == expected


def test_a_fresh_limiter_lets_exactly_its_burst_through_at_once(client, key):
    limiter = FleetRateLimiter(client, rate_per_s=1, burst=5, key=key)

    waits = [limiter.try_acquire() for _ in range(6)]

    assert waits[:5] == [0.0] * 5
    assert waits[5] > 0


def test_after_the_burst_requests_are_spaced_at_the_rate(client, key):
    limiter = FleetRateLimiter(client, rate_per_s=10, burst=5, key=key)

    count = count_acquisitions(limiter, 1.0)

    # 5 at once, then one every 0.1 s.
    assert 12 <= count <= 5 + 10 + 1


def test_two_machines_sharing_a_key_stay_together_under_the_rate(redis_url, key):
    rate_per_s, burst, duration_s = 20, 5, 2.0
    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    limiters = [FleetRateLimiter(c, rate_per_s=rate_per_s, burst=burst, key=key) for c in clients]
    counts = [0, 0]

    def run(index: int) -> None:
        counts[index] = count_acquisitions(limiters[index], duration_s)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()

    assert sum(counts) <= rate_per_s * duration_s + burst + 2
    # Both took part, and together they used most of the budget.
    assert min(counts) > 0
    assert sum(counts) >= rate_per_s * duration_s * 0.6


def test_try_acquire_returns_the_wait_without_taking_a_token(client, key):
    limiter = FleetRateLimiter(client, rate_per_s=2, burst=1, key=key)
    assert limiter.try_acquire() == 0.0

    first_wait = limiter.try_acquire()
    second_wait = limiter.try_acquire()

    assert 0 < second_wait <= first_wait <= 0.5
    # Had the refused calls taken tokens, the next slot would be further away.
    time.sleep(first_wait + 0.02)
    assert limiter.try_acquire() == 0.0


def test_acquire_gives_up_with_a_timeout_error_when_no_slot_comes_in_time(client, key):
    limiter = FleetRateLimiter(client, rate_per_s=1, burst=1, key=key)
    limiter.acquire()

    with pytest.raises(RateLimitTimeout) as caught:
        limiter.acquire(timeout_s=0.1)

    assert isinstance(caught.value, TimeoutError)
    assert 0.5 < caught.value.wait_s <= 1.0  # the next slot, one second after the first
    assert limiter.try_acquire() > 0  # giving up took nothing from the budget


def test_pause_until_blocks_acquire_until_that_moment(client, key):
    limiter = FleetRateLimiter(client, rate_per_s=100, key=key)
    moment = time.time() + 0.4
    limiter.pause_until(moment)

    assert limiter.paused_for() > 0
    assert limiter.try_acquire() > 0
    limiter.acquire()

    assert time.time() >= moment - 0.01
    assert limiter.paused_for() == 0.0


def test_a_pause_seen_by_one_machine_holds_back_another(redis_url, client, key):
    other = redis.Redis.from_url(redis_url)
    FleetRateLimiter(client, rate_per_s=100, key=key).pause_until(time.time() + 5)

    with pytest.raises(RateLimitTimeout):
        FleetRateLimiter(other, rate_per_s=100, key=key).acquire(timeout_s=0.2)
    other.close()


@pytest.mark.parametrize("first_s, second_s", [(5, 1), (1, 5)])
def test_the_later_of_two_pauses_wins(client, key, first_s, second_s):
    limiter = FleetRateLimiter(client, rate_per_s=10, key=key)
    now = time.time()

    limiter.pause_until(now + first_s)
    limiter.pause_until(now + second_s)

    assert 4 < limiter.paused_for() <= 5


def test_a_pause_in_the_past_changes_nothing(client, key):
    limiter = FleetRateLimiter(client, rate_per_s=10, key=key)

    limiter.pause_until(time.time() - 1)

    assert limiter.paused_for() == 0.0
    assert limiter.try_acquire() == 0.0


def test_after_a_pause_the_fleet_comes_back_one_request_at_a_time(client, key):
    limiter = FleetRateLimiter(client, rate_per_s=5, burst=5, key=key)
    limiter.pause_until(time.time() + 0.2)

    limiter.acquire()

    assert limiter.try_acquire() > 0


def test_the_state_in_redis_expires_when_idle(client, key):
    limiter = FleetRateLimiter(client, rate_per_s=10, key=key)
    limiter.acquire()
    limiter.pause_until(time.time() + 1)

    stored = list(client.scan_iter(match=f"*{key}*"))

    assert len(stored) >= 1
    for name in stored:
        # Set, and not much longer than what the state still has to say (1 s pause + margin).
        assert 0 < client.pttl(name) <= 3000


@pytest.mark.parametrize(
    "operation",
    [
        lambda limiter: limiter.acquire(),
        lambda limiter: limiter.try_acquire(),
        lambda limiter: limiter.pause_until(time.time() + 1),
        lambda limiter: limiter.paused_for(),
    ],
    ids=["acquire", "try_acquire", "pause_until", "paused_for"],
)
def test_a_redis_that_does_not_answer_is_reported_as_unavailable(operation, key):
    limiter = FleetRateLimiter.from_url(f"redis://127.0.0.1:{closed_port()}/0", rate_per_s=5, key=key)

    with pytest.raises(RateLimiterUnavailable) as caught:
        operation(limiter)

    assert isinstance(caught.value.__cause__, redis.ConnectionError)
