"""Scenario's request budget: one token bucket per API key."""

from __future__ import annotations

import math
import threading


class TokenBucket:
    """Holds up to `burst` tokens, refilled at `rate_per_s`; each request takes one."""

    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 when one was there, else the seconds until the next one."""
        if now > self.stamp:
            self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate_per_s)
            self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s


def retry_after_header(wait_s: float) -> str:
    """Retry-After in whole seconds, rounded up so a client that obeys it finds a token."""
    return str(max(1, math.ceil(wait_s)))


class RateLimiter:
    """Buckets by API key; a rate of 0 lets everything through."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def wait_s(self, key: str, now: float) -> float:
        """0.0 when the request may go on, else how long this key must wait."""
        if self.rate_per_s <= 0:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rate_per_s, self.burst, now)
            return bucket.take(now)
