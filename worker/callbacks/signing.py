"""Standard Webhooks signatures (standardwebhooks.com): sign a delivery, and verify one on arrival.

A secret is `whsec_` followed by base64 of the key. The signed content is
`{webhook-id}.{webhook-timestamp}.{body}`; the `webhook-signature` header holds
`v1,<base64 HMAC-SHA256>`, possibly several of them separated by spaces (a key being rotated).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping

from worker.errors import WorkerError

SECRET_PREFIX = "whsec_"
# Keys shorter than this are guessable; Standard Webhooks asks for 24 to 64 bytes.
MIN_KEY_BYTES = 16
DEFAULT_TOLERANCE_S = 300.0
ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"


class SignatureError(WorkerError, ValueError):
    """A delivery that must not be trusted: the receiver answers it with a 4xx and does nothing."""


class ForgedSignature(SignatureError):
    """A header is missing, or no signature matches the body with this secret."""


class StaleTimestamp(SignatureError):
    """The delivery was signed too long ago (or too far ahead): a captured one sent again later."""


class ReplayedDelivery(SignatureError):
    """A delivery whose webhook-id was already taken."""


def secret_key(secret: str) -> bytes:
    """The key inside a `whsec_` secret; ValueError (never quoting the secret) when it is not one."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a callback secret starts with {SECRET_PREFIX!r} followed by base64")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a callback secret is {SECRET_PREFIX!r} followed by base64; this one is not base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a callback secret's key must be at least {MIN_KEY_BYTES} bytes, this one has {len(key)}")
    return key


def new_secret() -> str:
    """A fresh secret to give a receiving endpoint."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` header's value for this delivery: `v1,<base64>`."""
    raw = body.encode() if isinstance(body, str) else body
    content = f"{webhook_id}.{timestamp}.".encode() + raw
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, webhook_id: str, body: bytes | str, *, now: float | None = None) -> dict[str, str]:
    """The three headers of one attempt, signed at `now` (each attempt is signed afresh)."""
    timestamp = int(time.time() if now is None else now)
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, webhook_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    *,
    seen: SeenIds | None = None,
    now: float | None = None,
) -> str:
    """Check a delivery as it arrived; its webhook-id when it is genuine, fresh and (with `seen`) new.

    `body` is the request body exactly as received: parse the JSON only after this returns.
    Raises ForgedSignature, StaleTimestamp or ReplayedDelivery (all SignatureError).
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    webhook_id = lowered.get(ID_HEADER)
    stamp = lowered.get(TIMESTAMP_HEADER)
    signatures = lowered.get(SIGNATURE_HEADER)
    for name, value in ((ID_HEADER, webhook_id), (TIMESTAMP_HEADER, stamp), (SIGNATURE_HEADER, signatures)):
        if not value:
            raise ForgedSignature(f"the {name} header is missing")
    assert webhook_id is not None and stamp is not None and signatures is not None
    try:
        timestamp = int(stamp)
    except ValueError:
        raise ForgedSignature(f"the {TIMESTAMP_HEADER} header is not a whole number of seconds") from None
    expected = sign(secret, webhook_id, timestamp, body).encode()
    # Compared in constant time, each offered signature in turn; other versions than v1 are skipped.
    if not any(hmac.compare_digest(expected, offered.encode()) for offered in signatures.split()):
        raise ForgedSignature("no signature matches the body with this secret")
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance_s:
        raise StaleTimestamp(f"signed {clock - timestamp:+.0f} s from now, outside the tolerance of {tolerance_s:g} s")
    if seen is not None and not seen.take(webhook_id, now=clock, keep_s=2 * tolerance_s):
        raise ReplayedDelivery(f"webhook-id {webhook_id} was already taken")
    return webhook_id


class SeenIds:
    """The webhook-ids a receiver has taken, each kept as long as its signature could still pass.

    In memory, for one process; an application running several keeps them where all can see
    them (a unique column, a Redis SET NX with an expiry), with the same rule.
    """

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, webhook_id: str, *, now: float | None = None, keep_s: float = 2 * DEFAULT_TOLERANCE_S) -> bool:
        """Note the id; False when it was already taken (a replay)."""
        clock = time.time() if now is None else now
        with self._lock:
            for old in [i for i, until in self._until.items() if until < clock]:
                del self._until[old]
            if webhook_id in self._until:
                return False
            self._until[webhook_id] = clock + keep_s
            return True

    def forget(self, webhook_id: str) -> None:
        """Let the id be taken again: the receiver could not act on its delivery and answered 5xx."""
        with self._lock:
            self._until.pop(webhook_id, None)

    def __len__(self) -> int:
        return len(self._until)
