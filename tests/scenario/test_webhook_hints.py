"""Reading Scenario's webhooks as hints: which job to look at, or why a delivery is ignored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from worker.scenario.webhooks import Hint, Ignored, read_event, read_hint, signing_key
from worker.simulator.webhooks import signed_headers

SECRET = "whsec_" + base64.b64encode(b"hint-reader-test-key-0123456789ab").decode()
OTHER = "whsec_" + base64.b64encode(b"some-other-key-0123456789abcdefg").decode()
NOW = 1_760_000_000
JOB = "job_aZ67MsuuyQ5JawJekta3V7yD"


def body(**event) -> bytes:
    return json.dumps(event).encode()


BAD_ID = Hint(None, "inference.completed", Ignored.MALFORMED)
COMPLETED = body(id="evt_1", type="inference.completed", data={"jobId": JOB, "status": "success"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (COMPLETED, Hint(JOB, "inference.completed")),
        (body(type="inference.failed", data={"jobId": JOB}), Hint(JOB, "inference.failed")),
        (body(type="inference.cancelled", data={"jobId": JOB}), Hint(JOB, "inference.cancelled")),
        (body(type="inference.canceled", data={"jobId": JOB}), Hint(JOB, "inference.canceled")),
        # Other shapes a sender may use for the same thing.
        (body(type="inference.completed", data={"job": {"jobId": JOB}}), Hint(JOB, "inference.completed")),
        (body(event="inference.completed", jobId=JOB), Hint(JOB, "inference.completed")),
        (body(eventType="inference.failed", data={"id": JOB}), Hint(JOB, "inference.failed")),
        # Events that say nothing of a job's end.
        (body(type="inference.created", data={"jobId": JOB}), Hint(None, "inference.created", Ignored.NOT_AN_END)),
        (body(type="model.training.completed", data={}), Hint(None, "model.training.completed", Ignored.NOT_AN_END)),
        # Not an event at all.
        (b"", Hint(ignored=Ignored.MALFORMED)),
        (b"not json", Hint(ignored=Ignored.MALFORMED)),
        (b"\xff\xfe", Hint(ignored=Ignored.MALFORMED)),
        (b"[1, 2]", Hint(ignored=Ignored.MALFORMED)),
        (body(data={"jobId": JOB}), Hint(ignored=Ignored.MALFORMED)),
        (body(type=7, data={"jobId": JOB}), Hint(ignored=Ignored.MALFORMED)),
        (body(type="inference.completed", data={}), BAD_ID),
        (body(type="inference.completed", data="job"), BAD_ID),
        (body(type="inference.completed", data={"jobId": 12}), BAD_ID),
        # A job id no row could hold (too long, or not an id) is not looked up.
        (body(type="inference.completed", data={"jobId": "j" * 65}), BAD_ID),
        (body(type="inference.completed", data={"jobId": "job x'--"}), BAD_ID),
    ],
)
def test_an_events_job_id_is_read_or_the_reason_it_is_ignored_is_given(raw, expected) -> None:
    assert read_event(raw) == expected


def standard(secret: str, raw: bytes = COMPLETED, at: int = NOW) -> dict[str, str]:
    return signed_headers(secret, "evt_1", at, raw)


def bare(secret: str, raw: bytes = COMPLETED, *, encoding: str = "hex", prefix: str = "") -> dict[str, str]:
    digest = hmac.new(signing_key(secret), raw, hashlib.sha256).digest()
    value = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return {"X-Scenario-Signature": prefix + value}


@pytest.mark.parametrize(
    ("headers", "raw", "expected"),
    [
        (standard(SECRET), COMPLETED, None),
        ({k.upper(): v for k, v in standard(SECRET).items()}, COMPLETED, None),
        # A rotated secret: any one matching signature of several will do.
        (
            {**standard(SECRET), "webhook-signature": f"v1,AAAA {standard(SECRET)['webhook-signature']}"},
            COMPLETED,
            None,
        ),
        (bare(SECRET), COMPLETED, None),
        (bare(SECRET, encoding="base64"), COMPLETED, None),
        (bare(SECRET, prefix="sha256="), COMPLETED, None),
        ({"scenario-signature": bare(SECRET)["X-Scenario-Signature"]}, COMPLETED, None),
        ({}, COMPLETED, Ignored.UNSIGNED),
        ({"webhook-id": "evt_1", "webhook-timestamp": str(NOW)}, COMPLETED, Ignored.UNSIGNED),
        (standard(OTHER), COMPLETED, Ignored.FORGED),
        (bare(OTHER), COMPLETED, Ignored.FORGED),
        # The body changed after signing (a completed event turned into another job's).
        (standard(SECRET), COMPLETED.replace(b"aZ67", b"zZ67"), Ignored.FORGED),
        ({**standard(SECRET), "webhook-id": "evt_2"}, COMPLETED, Ignored.FORGED),
        ({**standard(SECRET), "webhook-timestamp": "soon"}, COMPLETED, Ignored.FORGED),
        ({k: v for k, v in standard(SECRET).items() if k != "webhook-id"}, COMPLETED, Ignored.FORGED),
        ({**standard(SECRET), "webhook-signature": "v2,abc"}, COMPLETED, Ignored.FORGED),
        (standard(SECRET, at=NOW - 301), COMPLETED, Ignored.STALE),
        (standard(SECRET, at=NOW + 301), COMPLETED, Ignored.STALE),
        (standard(SECRET, at=NOW - 299), COMPLETED, None),
    ],
)
def test_with_a_secret_only_a_delivery_signed_with_it_and_fresh_is_a_hint(headers, raw, expected) -> None:
    hint = read_hint(raw, headers, secret=SECRET, tolerance_s=300, now=NOW)
    assert hint.ignored is expected
    if expected is None:
        assert hint.scenario_job_id == JOB


@pytest.mark.parametrize("headers", [{}, standard(OTHER), bare(OTHER), standard(SECRET, at=NOW - 10_000)])
def test_without_a_secret_every_well_formed_delivery_is_a_hint(headers) -> None:
    assert read_hint(COMPLETED, headers, secret="", now=NOW) == Hint(JOB, "inference.completed")


def test_a_secret_that_is_not_whsec_is_used_as_its_bytes() -> None:
    raw_secret = "a plain shared secret"
    headers = {"scenario-signature": hmac.new(raw_secret.encode(), COMPLETED, hashlib.sha256).hexdigest()}
    assert read_hint(COMPLETED, headers, secret=raw_secret, now=NOW).scenario_job_id == JOB


def test_a_body_larger_than_any_event_is_not_read() -> None:
    huge = body(type="inference.completed", data={"jobId": JOB, "pad": "x" * 70_000})
    assert read_hint(huge, {}, secret="", now=NOW).ignored is Ignored.MALFORMED


@pytest.mark.parametrize(("ignored", "at_fault"), [(i, i is not Ignored.NOT_AN_END) for i in Ignored])
def test_only_an_event_that_is_not_an_end_is_no_fault_of_the_sender(ignored, at_fault) -> None:
    assert ignored.sender_at_fault is at_fault
