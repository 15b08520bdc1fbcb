"""What to do after a delivery attempt, and which secret signs a URL: plain decisions, no I/O."""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


class Next(enum.Enum):
    DONE = "done"
    RETRY = "retry"
    # Out of attempts: the delivery becomes a dead letter, kept for a replay.
    DEAD = "dead"
    # 410 Gone: the receiver asked for no more; retrying would go against its word.
    GONE = "gone"


@dataclass(frozen=True)
class Decision:
    next: Next
    delay_s: float = 0.0


def after_attempt(
    http_status: int | None,
    *,
    attempts: int,
    max_attempts: int,
    backoff_s: float,
    backoff_max_s: float,
    jitter: bool = True,
    rand: random.Random | None = None,
) -> Decision:
    """After the `attempts`-th attempt answered `http_status` (None: no answer at all).

    2xx is delivered; 410 stops; anything else (a network error, a 5xx, a 4xx, a redirect)
    is tried again after an exponential backoff with full jitter, until `max_attempts`.
    """
    if http_status is not None and 200 <= http_status < 300:
        return Decision(Next.DONE)
    if http_status == 410:
        return Decision(Next.GONE)
    if attempts >= max_attempts:
        return Decision(Next.DEAD)
    ceiling = min(backoff_max_s, backoff_s * 2 ** (attempts - 1))
    # Full jitter spreads the retries of many deliveries that failed together (a receiver's outage).
    delay = (rand or random).uniform(ceiling / 2, ceiling) if jitter else ceiling
    return Decision(Next.RETRY, delay)


def secret_for(url: str, secrets: Mapping[str, str], default: str = "") -> str | None:
    """The secret of the endpoint at `url`: the longest URL prefix, else its host, else the default.

    A key with a scheme (`https://app.example.com/hooks/`) matches URLs that start with it; a key
    without one (`app.example.com`, `app.example.com:8443`) matches that host (and port).
    """
    prefixes = [key for key in secrets if "://" in key and url.startswith(key)]
    if prefixes:
        return secrets[max(prefixes, key=len)]
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    by_host = {key.lower(): value for key, value in secrets.items() if "://" not in key}
    for key in (f"{host}:{parts.port}" if parts.port else None, host):
        if key and key in by_host:
            return by_host[key]
    return default or None
