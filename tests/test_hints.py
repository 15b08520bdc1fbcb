"""Every webhook delivery read is counted by what came of it, so an operator sees forgeries and
deliveries for jobs that are not ours on the dashboard, not only in the logs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from worker import runtime
from worker.db.migrate import upgrade
from worker.hints import take_hint
from worker.settings import Settings

SECRET = "whsec_" + base64.b64encode(b"hints-test-key-0123456789abcdefg").decode()
FORGER = "whsec_" + base64.b64encode(b"a-forgers-own-key-0123456789abcd").decode()


@pytest.fixture
def hinted(tmp_path) -> Iterator[None]:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    runtime.install(Settings.from_env({"DATABASE_URL": url, "SCENARIO_WEBHOOK_SECRET": SECRET}))
    try:
        yield
    finally:
        runtime.current().close()
        runtime.forget()


def delivery(secret: str | None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"id": "evt_1", "type": "inference.completed", "data": {"jobId": "job_nobody"}}).encode()
    headers = {"content-type": "application/json"}
    if secret is not None:
        stamp = str(int(time.time()))
        key = base64.b64decode(secret.removeprefix("whsec_"))
        digest = hmac.new(key, f"evt_1.{stamp}.".encode() + body, hashlib.sha256).digest()
        signature = "v1," + base64.b64encode(digest).decode()
        headers |= {"webhook-id": "evt_1", "webhook-timestamp": stamp, "webhook-signature": signature}
    return body, headers


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("scenario_webhook_hints_total", {"outcome": outcome}) or 0.0


def test_forged_unsigned_and_unknown_deliveries_are_each_counted_once(hinted) -> None:
    before = {outcome: counted(outcome) for outcome in ("forged", "unsigned", "unknown job")}

    take_hint(*delivery(FORGER))
    take_hint(*delivery(None))
    take_hint(*delivery(SECRET))  # well signed, but no row of ours holds that Scenario job

    assert {outcome: counted(outcome) - n for outcome, n in before.items()} == {
        "forged": 1,
        "unsigned": 1,
        "unknown job": 1,
    }
