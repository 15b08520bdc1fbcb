"""The fleet-wide auth pause, against a real Redis."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from worker.fleet.pause import AuthPause, PauseInfo, PauseUnavailable

pytestmark = pytest.mark.redis


@pytest.fixture
def key() -> str:
    return f"test-auth-pause:{uuid.uuid4().hex}"


@pytest.fixture
def client(redis_url) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def test_no_pause_is_in_force_until_one_is_tripped(client, key):
    assert AuthPause(client, key=key).current() is None


def test_a_tripped_pause_tells_why_and_for_how_long(client, key):
    pause = AuthPause(client, key=key)
    before = time.time()

    pause.trip(seconds=30, status=401, code="UNAUTHORIZED", message="Invalid credentials")
    info = pause.current()

    assert isinstance(info, PauseInfo)
    assert (info.status, info.code, info.message) == (401, "UNAUTHORIZED", "Invalid credentials")
    assert before - 1 <= info.since <= time.time() + 1
    assert 25 < info.remaining_s <= 30


def test_a_pause_without_a_code_keeps_none(client, key):
    pause = AuthPause(client, key=key)

    pause.trip(seconds=5, status=403, code=None, message="Forbidden")

    assert pause.current().code is None


def test_a_pause_tripped_on_one_machine_is_seen_on_another(redis_url, client, key):
    other = redis.Redis.from_url(redis_url)
    AuthPause(client, key=key).trip(seconds=5, status=403, code="FORBIDDEN", message="no rights")

    info = AuthPause(other, key=key).current()
    other.close()

    assert info is not None and info.status == 403


def test_clear_ends_the_pause(client, key):
    pause = AuthPause(client, key=key)
    pause.trip(seconds=30, status=401, code=None, message="Unauthorized")

    pause.clear()

    assert pause.current() is None


def test_a_pause_ends_by_itself_when_its_time_is_up(client, key):
    pause = AuthPause(client, key=key)
    pause.trip(seconds=0.3, status=401, code=None, message="Unauthorized")
    assert pause.current() is not None

    time.sleep(0.45)

    assert pause.current() is None
    assert client.exists(key) == 0


def test_a_damaged_value_still_pauses(client, key):
    client.set(key, "not json", px=5000)

    info = AuthPause(client, key=key).current()

    assert info is not None
    assert info.status == 0 and info.remaining_s > 0


@pytest.mark.parametrize("seconds", [0, -1])
def test_a_pause_must_last_some_time(client, key, seconds):
    with pytest.raises(ValueError, match="seconds"):
        AuthPause(client, key=key).trip(seconds=seconds, status=401, code=None, message="x")


def test_a_redis_that_does_not_answer_is_reported_as_unavailable(key):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pause = AuthPause.from_url(f"redis://127.0.0.1:{port}/0", key=key)

    with pytest.raises(PauseUnavailable) as caught:
        pause.current()

    assert isinstance(caught.value.__cause__, redis.ConnectionError)
