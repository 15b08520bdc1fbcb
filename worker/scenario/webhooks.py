"""Scenario's webhooks read as hints: which Scenario job to look at now, or why a delivery is ignored.

A hint never sets a state: the look it asks for (a GET of the job) does. So the reading is
tolerant where Scenario's format is not public. The signature scheme is not documented:
Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`
over `{id}.{timestamp}.{body}`) are checked, and so is a bare HMAC-SHA256 of the body in a
`scenario-signature` or `x-scenario-signature` header (hex or base64, an optional `sha256=`).
Without a secret nothing is checked: a forged hint then costs one GET, never a wrong state.
The event's job id is looked for at `data.jobId`, `data.job.jobId`, `jobId` or `data.id`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

# The events that say a job ended; any other (inference.created, model.training.*) is no hint.
END_EVENTS = frozenset({"inference.completed", "inference.failed", "inference.cancelled", "inference.canceled"})
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300.0
ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"
BODY_SIGNATURE_HEADERS = ("scenario-signature", "x-scenario-signature")
# A job id as our rows hold it: Scenario's are `job_` and 24 letters or digits.
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Larger than any job event: a bigger body is not one, and is not parsed.
MAX_BODY_BYTES = 64 * 1024


class Ignored(Enum):
    """Why a delivery asks for no look."""

    UNSIGNED = "unsigned"  # a secret is set, and the delivery carries no signature
    FORGED = "forged"  # a signature that does not match the body with the secret
    STALE = "stale"  # signed too long ago or too far ahead: a captured delivery sent again
    MALFORMED = "malformed"  # not a JSON object with an event type and a job id
    NOT_AN_END = "not an end"  # an event that says nothing of a job ending

    @property
    def sender_at_fault(self) -> bool:
        """Answered 4xx: the sender (or a forger) sent what no retry will mend."""
        return self is not Ignored.NOT_AN_END


@dataclass(frozen=True)
class Hint:
    """What a delivery says: the Scenario job to look at (with its event), or why it is ignored."""

    scenario_job_id: str | None = None
    event: str | None = None
    ignored: Ignored | None = None


def read_hint(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: str = "",
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float,
) -> Hint:
    """Check a delivery as it arrived (`body` exactly as received) and read its job id.

    With `secret` empty the signature is not checked. Never raises for what a sender sends.
    """
    if len(body) > MAX_BODY_BYTES:
        return Hint(ignored=Ignored.MALFORMED)
    if secret:
        problem = signature_problem(body, headers, secret=secret, tolerance_s=tolerance_s, now=now)
        if problem is not None:
            return Hint(ignored=problem)
    return read_event(body)


def read_event(body: bytes) -> Hint:
    """The event type and the job id of a delivery's JSON body."""
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Hint(ignored=Ignored.MALFORMED)
    if not isinstance(event, dict):
        return Hint(ignored=Ignored.MALFORMED)
    kind = next((event[k] for k in ("type", "event", "eventType") if isinstance(event.get(k), str)), None)
    if kind is None:
        return Hint(ignored=Ignored.MALFORMED)
    if kind not in END_EVENTS:
        return Hint(event=kind, ignored=Ignored.NOT_AN_END)
    job_id = _job_id(event)
    if job_id is None:
        return Hint(event=kind, ignored=Ignored.MALFORMED)
    return Hint(scenario_job_id=job_id, event=kind)


def _job_id(event: dict[str, Any]) -> str | None:
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    job = data.get("job") if isinstance(data.get("job"), dict) else {}
    for candidate in (data.get("jobId"), job.get("jobId"), event.get("jobId"), data.get("id")):
        if isinstance(candidate, str) and _JOB_ID.fullmatch(candidate):
            return candidate
    return None


def signature_problem(
    body: bytes, headers: Mapping[str, str], *, secret: str, tolerance_s: float, now: float
) -> Ignored | None:
    """None when the delivery is signed with `secret`; else why it is not to be trusted."""
    lowered = {str(name).lower(): str(value) for name, value in headers.items()}
    key = signing_key(secret)
    if lowered.get(SIGNATURE_HEADER):
        return _standard_problem(body, lowered, key, tolerance_s, now)
    offered = next((lowered[name] for name in BODY_SIGNATURE_HEADERS if lowered.get(name)), None)
    if offered is None:
        return Ignored.UNSIGNED
    digest = hmac.new(key, body, hashlib.sha256).digest()
    return None if _matches(digest, offered.removeprefix("sha256=").strip()) else Ignored.FORGED


def _standard_problem(
    body: bytes, lowered: dict[str, str], key: bytes, tolerance_s: float, now: float
) -> Ignored | None:
    webhook_id, stamp = lowered.get(ID_HEADER), lowered.get(TIMESTAMP_HEADER)
    if not webhook_id or not stamp:
        return Ignored.FORGED
    try:
        timestamp = int(stamp)
    except ValueError:
        return Ignored.FORGED
    content = f"{webhook_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    # Several space-separated signatures may come while a secret is rotated; other versions are skipped.
    offered = [part.partition(",")[2] for part in lowered[SIGNATURE_HEADER].split() if part.startswith("v1,")]
    if not any(hmac.compare_digest(expected.encode(), sig.encode()) for sig in offered):
        return Ignored.FORGED
    if abs(now - timestamp) > tolerance_s:
        return Ignored.STALE
    return None


def _matches(digest: bytes, offered: str) -> bool:
    """A bare body signature, in hex or in base64."""
    candidates = (digest.hex(), base64.b64encode(digest).decode())
    return any(hmac.compare_digest(c.encode(), offered.encode()) for c in candidates)


def signing_key(secret: str) -> bytes:
    """The key inside a `whsec_` secret (base64); any other secret is used as its bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()
