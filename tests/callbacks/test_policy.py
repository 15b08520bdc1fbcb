"""After each attempt: delivered, tried again later, dead-lettered, or stopped by a 410; and which secret signs."""

from __future__ import annotations

import random

import pytest

from worker.callbacks.policy import Next, after_attempt, secret_for

BUDGET = {"max_attempts": 5, "backoff_s": 2.0, "backoff_max_s": 10.0, "jitter": False}

CASES = [
    # (HTTP status or None for no answer, attempts so far, what comes next, delay without jitter)
    (200, 1, Next.DONE, 0.0),
    (204, 5, Next.DONE, 0.0),
    (410, 1, Next.GONE, 0.0),
    (None, 1, Next.RETRY, 2.0),
    (500, 1, Next.RETRY, 2.0),
    (503, 2, Next.RETRY, 4.0),
    (429, 3, Next.RETRY, 8.0),
    (400, 4, Next.RETRY, 10.0),
    (301, 1, Next.RETRY, 2.0),
    (500, 5, Next.DEAD, 0.0),
    (None, 5, Next.DEAD, 0.0),
    (410, 5, Next.GONE, 0.0),
]


@pytest.mark.parametrize(("http_status", "attempts", "expected", "delay_s"), CASES)
def test_what_comes_after_an_attempt(http_status, attempts, expected, delay_s):
    decision = after_attempt(http_status, attempts=attempts, **BUDGET)

    assert decision.next is expected
    assert decision.delay_s == delay_s


def test_jitter_keeps_each_wait_between_half_and_all_of_its_backoff():
    rand = random.Random(3)
    budget = {**BUDGET, "jitter": True, "max_attempts": 50}
    delays = [after_attempt(500, attempts=3, rand=rand, **budget).delay_s for _ in range(200)]

    assert all(4.0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 100


SECRETS = {
    "https://app.example.com/": "whsec_app",
    "https://app.example.com/hooks/billing/": "whsec_billing",
    "receiver.internal": "whsec_host",
    "receiver.internal:8443": "whsec_host_port",
}

SECRET_CASES = [
    ("https://app.example.com/hooks/jobs", "whsec_app"),
    ("https://app.example.com/hooks/billing/done", "whsec_billing"),
    ("http://app.example.com/hooks/jobs", "whsec_default"),
    ("http://receiver.internal/done", "whsec_host"),
    ("http://RECEIVER.internal:8443/done", "whsec_host_port"),
    ("https://elsewhere.example.org/", "whsec_default"),
]


@pytest.mark.parametrize(("url", "secret"), SECRET_CASES)
def test_the_most_specific_secret_signs_a_url(url, secret):
    assert secret_for(url, SECRETS, "whsec_default") == secret


def test_a_url_no_secret_covers_has_none():
    assert secret_for("https://elsewhere.example.org/", SECRETS) is None
