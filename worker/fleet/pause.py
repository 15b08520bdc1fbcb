"""A short fleet-wide pause of submits after Scenario refuses the credentials."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis

from worker.fleet.errors import FleetUnavailable

DEFAULT_KEY = "scenario-worker:auth-pause"

T = TypeVar("T")


class PauseUnavailable(FleetUnavailable):
    """Redis, which holds the fleet's auth pause, did not answer."""


@dataclass(frozen=True)
class PauseInfo:
    """Why the fleet is paused, since when (epoch seconds), and for how much longer."""

    status: int
    code: str | None
    message: str
    since: float
    remaining_s: float


class AuthPause:
    """One flag in Redis that every worker checks before submitting to Scenario."""

    def __init__(self, redis_client: redis.Redis, *, key: str = DEFAULT_KEY) -> None:
        self.key = key
        self._redis = redis_client

    @classmethod
    def from_url(cls, url: str, *, key: str = DEFAULT_KEY) -> AuthPause:
        """A pause on its own client; short socket timeouts so a dead Redis fails fast."""
        client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
        return cls(client, key=key)

    def trip(self, *, seconds: float, status: int, code: str | None, message: str) -> None:
        """Pause submits for `seconds`, remembering the answer that caused it."""
        if not seconds > 0:
            raise ValueError(f"seconds must be greater than 0, got {seconds!r}")
        value = json.dumps({"status": status, "code": code, "message": message, "since": time.time()})
        # The expiry lives in Redis, so the pause ends by itself even if no one clears it.
        self._call(lambda: self._redis.set(self.key, value, px=max(1, math.ceil(seconds * 1000))))

    def current(self) -> PauseInfo | None:
        """The pause in force, or None."""

        def read() -> list[object]:
            pipe = self._redis.pipeline(transaction=True)
            pipe.get(self.key)
            pipe.pttl(self.key)
            return pipe.execute()

        raw, pttl = self._call(read)
        # pttl <= 0: gone, or a key without expiry that this class never writes.
        if raw is None or not isinstance(pttl, int) or pttl <= 0:
            return None
        return _parse(raw, remaining_s=pttl / 1000)

    def clear(self) -> None:
        """End the pause now."""
        self._call(lambda: self._redis.delete(self.key))

    def _call(self, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise PauseUnavailable(f"Redis did not answer the auth pause: {exc}") from exc


def _parse(raw: bytes | str, *, remaining_s: float) -> PauseInfo:
    """The stored JSON as a PauseInfo; a damaged value still pauses, just without details."""
    try:
        data = json.loads(raw)
        code = data["code"]
        return PauseInfo(
            status=int(data["status"]),
            code=None if code is None else str(code),
            message=str(data["message"]),
            since=float(data["since"]),
            remaining_s=remaining_s,
        )
    except (ValueError, TypeError, KeyError):
        return PauseInfo(status=0, code=None, message="unreadable pause value", since=0.0, remaining_s=remaining_s)
