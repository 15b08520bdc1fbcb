"""The sign-in limit's decision (worker/console/signin_limit.py), and its counts in memory and in Redis."""

from __future__ import annotations

import secrets

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.console.settings import ConsoleSettings
from worker.console.signin_limit import (
    MemoryFailures,
    RedisFailures,
    SignInLimiter,
    Verdict,
    verdict,
    worst,
)
from worker.settings import SettingsError

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("failures_ago_s", "expected"),
    [
        ([], Verdict(True)),
        ([50, 40, 30, 20], Verdict(True)),  # four of five: one more try
        ([50, 40, 30, 20, 10], Verdict(False, 10)),  # the oldest leaves the window in 10 s
        ([59.5, 40, 30, 20, 10], Verdict(False, 1)),  # never less than a whole second
        ([70, 65, 40, 30, 20, 10], Verdict(True)),  # two are older than the window
        ([55, 50, 40, 30, 20, 10], Verdict(False, 10)),  # six: the second oldest frees a try
        ([0, 0, 0, 0, 0], Verdict(False, 60)),  # all just now: the whole window
        ([-5, 50, 40, 30, 20], Verdict(True)),  # a time in the future is not counted
    ],
)
def test_an_attempt_is_refused_after_five_failures_within_the_minute_until_the_oldest_leaves_it(
    failures_ago_s, expected
):
    failures = [NOW - ago for ago in failures_ago_s]

    assert verdict(failures, now=NOW, window_s=60, max_failures=5) == expected


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([Verdict(True), Verdict(True)], Verdict(True)),
        ([Verdict(True), Verdict(False, 7)], Verdict(False, 7)),
        ([Verdict(False, 3), Verdict(False, 42)], Verdict(False, 42)),
    ],
)
def test_an_attempt_judged_by_address_and_user_waits_for_the_stricter(verdicts, expected):
    assert worst(verdicts) == expected


def limiter_counts_per_address_and_per_user(store) -> None:
    limiter = SignInLimiter(store, max_failures=2, window_s=60)

    limiter.failed("10.0.0.1", "ada", now=NOW)
    limiter.failed("10.0.0.2", "ADA", now=NOW + 1)

    # The user name reached its limit from two addresses; a third address is refused for it too.
    assert limiter.check("10.0.0.3", "ada", now=NOW + 2) == Verdict(False, 58)
    # Another user from a fresh address is not held back.
    assert limiter.check("10.0.0.3", "vic", now=NOW + 2) == Verdict(True)
    limiter.failed("10.0.0.1", "vic", now=NOW + 3)
    # The first address now has two failures, whichever user they were for.
    assert limiter.check("10.0.0.1", "someone-else", now=NOW + 4).allowed is False
    assert limiter.check("10.0.0.3", "ada", now=NOW + 61).allowed is True


def test_the_limiter_counts_per_address_and_per_user_in_memory():
    limiter_counts_per_address_and_per_user(MemoryFailures())


def test_the_limiter_counts_per_address_and_per_user_in_redis(redis_url):
    client = redis.Redis.from_url(redis_url)
    store = RedisFailures(client)
    prefix = f"test-{secrets.token_hex(4)}-"

    class Prefixed:
        def add(self, key, at, window_s):
            store.add(prefix + key, at, window_s)

        def recent(self, key, now, window_s):
            return store.recent(prefix + key, now, window_s)

    try:
        limiter_counts_per_address_and_per_user(Prefixed())
    finally:
        for key in client.scan_iter(f"scenario:console:signin-failures:{prefix}*"):
            client.delete(key)
        client.close()


def test_with_redis_down_the_limiter_still_counts_in_this_process():
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    limiter = SignInLimiter(RedisFailures(dead), max_failures=1, window_s=60)

    limiter.failed("10.0.0.1", "ada", now=NOW)

    assert limiter.check("10.0.0.1", "ada", now=NOW + 1) == Verdict(False, 59)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CONSOLE_SIGNIN_MAX_FAILURES": "many"}, "CONSOLE_SIGNIN_MAX_FAILURES"),
        ({"CONSOLE_SIGNIN_MAX_FAILURES": "0"}, "CONSOLE_SIGNIN_MAX_FAILURES"),
        ({"CONSOLE_SIGNIN_WINDOW_S": "-1"}, "CONSOLE_SIGNIN_WINDOW_S"),
        ({"CONSOLE_SIGNIN_WINDOW_S": "a minute"}, "CONSOLE_SIGNIN_WINDOW_S"),
    ],
)
def test_a_bad_sign_in_limit_is_refused_naming_the_variable(env, named):
    logins = {"CONSOLE_ADMIN_USER": "ada", "CONSOLE_ADMIN_PASSWORD": "pw", "CONSOLE_SECRET_KEY": "k" * 32}

    with pytest.raises(SettingsError, match=named):
        ConsoleSettings.from_env("127.0.0.1", {**logins, **env})


def test_the_sign_in_limit_defaults_to_five_failures_a_minute():
    logins = {"CONSOLE_ADMIN_USER": "ada", "CONSOLE_ADMIN_PASSWORD": "pw", "CONSOLE_SECRET_KEY": "k" * 32}

    settings = ConsoleSettings.from_env("127.0.0.1", {**logins, "CONSOLE_SIGNIN_WINDOW_S": ""})

    assert (settings.signin_max_failures, settings.signin_window_s) == (5, 60.0)
