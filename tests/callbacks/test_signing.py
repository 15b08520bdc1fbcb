"""Signing and verifying deliveries the Standard Webhooks way: forged, stale and replayed ones are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from worker.callbacks import (
    ForgedSignature,
    ReplayedDelivery,
    SeenIds,
    StaleTimestamp,
    new_secret,
    sign,
    signed_headers,
    verify,
)
from worker.callbacks.signing import secret_key

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 32).decode()
BODY = b'{"data":{"job_id":"j1","status":"success"},"type":"job.ended"}'
NOW = 1_800_000_000


def test_the_signature_is_hmac_sha256_over_id_timestamp_and_body_in_base64():
    key = b"k" * 32
    expected = base64.b64encode(hmac.new(key, b"msg_1.1800000000." + BODY, hashlib.sha256).digest()).decode()

    assert sign(SECRET, "msg_1", NOW, BODY) == "v1," + expected


def test_the_standard_webhooks_example_signature_is_reproduced():
    # The example in the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'

    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def _headers(**changes: str) -> dict[str, str]:
    headers = signed_headers(SECRET, "msg_1", BODY, now=NOW)
    headers.update(changes)
    return {k: v for k, v in headers.items() if v != "-"}


CASES = [
    # (what arrives, body, seconds after signing, error or None)
    ("genuine", _headers(), BODY, 0, None),
    ("genuine, headers in another case", {k.title(): v for k, v in _headers().items()}, BODY, 0, None),
    ("genuine, a second signature of a rotated key beside it", None, BODY, 0, None),
    ("a changed body", _headers(), BODY.replace(b"success", b"failure"), 0, ForgedSignature),
    ("another id", _headers(**{"webhook-id": "msg_2"}), BODY, 0, ForgedSignature),
    ("another timestamp", _headers(**{"webhook-timestamp": str(NOW + 1)}), BODY, 1, ForgedSignature),
    ("signed with another secret", signed_headers(OTHER, "msg_1", BODY, now=NOW), BODY, 0, ForgedSignature),
    ("no signature", _headers(**{"webhook-signature": "-"}), BODY, 0, ForgedSignature),
    ("no id", _headers(**{"webhook-id": "-"}), BODY, 0, ForgedSignature),
    ("a timestamp that is not a number", _headers(**{"webhook-timestamp": "soon"}), BODY, 0, ForgedSignature),
    ("signed 299 s ago", _headers(), BODY, 299, None),
    ("signed 301 s ago", _headers(), BODY, 301, StaleTimestamp),
    ("signed 301 s ahead", _headers(), BODY, -301, StaleTimestamp),
]


@pytest.mark.parametrize(("what", "headers", "body", "after_s", "error"), CASES, ids=[c[0] for c in CASES])
def test_a_delivery_is_taken_or_refused(what, headers, body, after_s, error):
    if headers is None:
        rotated = sign(OTHER, "msg_1", NOW, BODY)
        headers = _headers(**{"webhook-signature": f"{rotated} {_headers()['webhook-signature']}"})
    if error is None:
        assert verify(SECRET, headers, body, now=NOW + after_s) == headers.get("webhook-id", "msg_1")
    else:
        with pytest.raises(error):
            verify(SECRET, headers, body, now=NOW + after_s)


def test_the_same_delivery_taken_twice_is_a_replay():
    seen = SeenIds()
    verify(SECRET, _headers(), BODY, seen=seen, now=NOW)

    with pytest.raises(ReplayedDelivery):
        verify(SECRET, _headers(), BODY, seen=seen, now=NOW + 10)


def test_a_forged_delivery_does_not_use_up_its_id():
    seen = SeenIds()
    with pytest.raises(ForgedSignature):
        verify(SECRET, _headers(), BODY + b" ", seen=seen, now=NOW)

    assert verify(SECRET, _headers(), BODY, seen=seen, now=NOW) == "msg_1"


def test_seen_ids_are_forgotten_once_their_signature_could_no_longer_pass():
    seen = SeenIds()
    assert seen.take("msg_1", now=NOW, keep_s=600)
    assert not seen.take("msg_1", now=NOW + 599, keep_s=600)
    seen.take("msg_2", now=NOW + 601, keep_s=600)

    assert len(seen) == 1


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with 'whsec_'"),
        ("whsec_not base64!", "not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "at least 16 bytes"),
    ],
)
def test_a_malformed_secret_is_refused_without_being_quoted(secret, problem):
    with pytest.raises(ValueError, match=problem) as caught:
        secret_key(secret)
    assert secret not in str(caught.value)


def test_a_new_secret_is_a_usable_whsec_secret_each_time_different():
    one, two = new_secret(), new_secret()

    assert one.startswith("whsec_") and one != two
    assert len(secret_key(one)) == 32
