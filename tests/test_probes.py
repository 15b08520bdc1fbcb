"""The readiness checks' verdicts and details (worker/probes.py); the real services are in tests/cli/test_health.py."""

from __future__ import annotations

import socket
import threading

import pytest

from worker.probes import Probe, _probe, redis_probe, report
from worker.settings import Settings


@pytest.mark.parametrize(
    ("oks", "ready"),
    [
        ([True, True, True], True),
        ([True, False, True], False),
        ([False, False, False], False),
    ],
)
def test_the_system_is_ready_only_when_every_check_is(oks, ready):
    probes = [Probe(f"check{n}", ok, "where") for n, ok in enumerate(oks)]

    assert report(probes) == {
        "ready": ready,
        "checks": [{"name": p.name, "ok": p.ok, "detail": "where"} for p in probes],
    }


def test_a_failed_check_says_why_in_one_line_with_the_password_masked():
    def fails() -> None:
        raise ConnectionError("could not reach\npostgresql://app:s3cret-pw@db:5432/jobs")

    probe = _probe("database", "postgresql://app:***@db:5432/jobs", fails)

    assert probe.ok is False
    assert "s3cret-pw" not in probe.detail
    assert probe.detail == (
        "postgresql://app:***@db:5432/jobs: ConnectionError: could not reach postgresql://app:***@db:5432/jobs"
    )


def test_a_check_that_hangs_is_not_ready_instead_of_holding_the_probe():
    release = threading.Event()
    try:
        probe = _probe("database", "db", lambda: release.wait(30))
    finally:
        release.set()

    assert probe.ok is False
    assert "no answer within" in probe.detail


def test_a_redis_that_accepts_but_never_answers_is_not_ready():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # the kernel completes the handshake; nobody ever reads or writes
    url = f"redis://:hunter2-pw@127.0.0.1:{silent.getsockname()[1]}/0"

    class Rt:
        settings = Settings.from_env({"CELERY_BROKER_URL": url})

    try:
        probe = redis_probe(Rt())  # type: ignore[arg-type]
    finally:
        silent.close()

    assert probe.ok is False
    assert probe.name == "redis"
    assert "hunter2-pw" not in probe.detail
