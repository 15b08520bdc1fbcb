"""Completion callbacks: a signed webhook to the application's URL when a job ends.

What a receiving application imports: `verify(secret, headers, body)` checks a delivery's
signature (Standard Webhooks, standardwebhooks.com), and `SeenIds` remembers the deliveries
already taken so a replayed one is refused. Neither needs Celery or the database.
"""

from __future__ import annotations

from worker.callbacks.signing import (
    ForgedSignature,
    ReplayedDelivery,
    SeenIds,
    SignatureError,
    StaleTimestamp,
    new_secret,
    sign,
    signed_headers,
    verify,
)

__all__ = [
    "ForgedSignature",
    "ReplayedDelivery",
    "SeenIds",
    "SignatureError",
    "StaleTimestamp",
    "new_secret",
    "sign",
    "signed_headers",
    "verify",
]
