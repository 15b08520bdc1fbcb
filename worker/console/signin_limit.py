"""Sign-in attempts, limited per client address and per user name.

After `max_failures` wrong passwords within `window_s`, from one address or for one user name,
further attempts are refused (HTTP 429 with Retry-After) until the oldest of those failures
is older than the window. The failures are kept in Redis when the system has one, so every
gunicorn worker (and every console replica) counts the same; in memory otherwise.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis

log = logging.getLogger("worker.console")

DEFAULT_MAX_FAILURES = 5
DEFAULT_WINDOW_S = 60.0
_KEY_PREFIX = "scenario:console:signin-failures:"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    # Whole seconds to wait before the next attempt can be allowed; 0 when allowed.
    retry_after_s: int = 0


def verdict(failures: Sequence[float], *, now: float, window_s: float, max_failures: int) -> Verdict:
    """Whether one more attempt may be made after these failure times (seconds since the epoch)."""
    recent = sorted(t for t in failures if now - window_s < t <= now)
    if len(recent) < max_failures:
        return Verdict(True)
    # Allowed again once only max_failures - 1 of them remain inside the window.
    frees_at = recent[len(recent) - max_failures] + window_s
    return Verdict(False, max(1, math.ceil(frees_at - now)))


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    """The verdict for an attempt judged on several keys: refused if any refuses, for the longest wait."""
    refused = [v for v in verdicts if not v.allowed]
    if not refused:
        return Verdict(True)
    return Verdict(False, max(v.retry_after_s for v in refused))


class FailureStore(Protocol):
    def add(self, key: str, at: float, window_s: float) -> None: ...

    def recent(self, key: str, now: float, window_s: float) -> list[float]: ...


class MemoryFailures:
    """Failure times in this process (one console process only: gunicorn workers would each count alone)."""

    def __init__(self, max_kept: int = 64) -> None:
        self._times: defaultdict[str, deque[float]] = defaultdict(lambda: deque(maxlen=max_kept))
        self._lock = threading.Lock()

    def add(self, key: str, at: float, window_s: float) -> None:
        with self._lock:
            self._times[key].append(at)

    def recent(self, key: str, now: float, window_s: float) -> list[float]:
        with self._lock:
            times = self._times.get(key)
            if times is None:
                return []
            while times and times[0] <= now - window_s:
                times.popleft()
            if not times:
                del self._times[key]
                return []
            return list(times)


class RedisFailures:
    """Failure times in a Redis sorted set per key, expiring with the window."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def add(self, key: str, at: float, window_s: float) -> None:
        name = _KEY_PREFIX + key
        pipe = self._redis.pipeline()
        pipe.zadd(name, {f"{at:.6f}:{time.monotonic_ns()}": at})
        pipe.zremrangebyscore(name, "-inf", at - window_s)
        pipe.expire(name, math.ceil(window_s) + 1)
        pipe.execute()

    def recent(self, key: str, now: float, window_s: float) -> list[float]:
        found = self._redis.zrangebyscore(_KEY_PREFIX + key, f"({now - window_s}", "+inf", withscores=True)
        return [score for _, score in found]


class SignInLimiter:
    """Counts failed sign-ins per client address and per user name, and judges the next attempt."""

    def __init__(self, store: FailureStore, *, max_failures: int, window_s: float) -> None:
        self._store = store
        self._fallback = MemoryFailures()
        self.max_failures = max_failures
        self.window_s = window_s

    def check(self, address: str, user: str, *, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        return worst(
            [
                verdict(self._recent(key, now), now=now, window_s=self.window_s, max_failures=self.max_failures)
                for key in _keys(address, user)
            ]
        )

    def failed(self, address: str, user: str, *, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for key in _keys(address, user):
            try:
                self._store.add(key, now, self.window_s)
            except redis.RedisError as exc:
                self._redis_down(exc)
                self._fallback.add(key, now, self.window_s)

    def _recent(self, key: str, now: float) -> list[float]:
        try:
            return self._store.recent(key, now, self.window_s) + self._fallback.recent(key, now, self.window_s)
        except redis.RedisError as exc:
            self._redis_down(exc)
            return self._fallback.recent(key, now, self.window_s)

    def _redis_down(self, exc: Exception) -> None:
        # Signing in must not depend on Redis: this process counts alone until it answers again.
        log.warning("sign-in limit: Redis does not answer (%s); counting failures in this process", exc)


def _keys(address: str, user: str) -> list[str]:
    # The user name is case-folded so that "Ada" and "ada" share one count.
    return [f"address:{address or '?'}", f"user:{user.casefold()}"]
