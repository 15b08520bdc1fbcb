"""One breaker for the fleet: when Scenario stops answering, every worker holds back together.

A run of failures without an answer in between (5xx, a load balancer's error page, refused
connections, timeouts) opens the breaker for the whole fleet. While it is open one request at
a time, at most one every `probe_every_s`, goes through as a probe; every other request is
held back before it leaves, as a wait that spends no try. The first answer that is not a
failure closes it. So a service coming back meets a trickle, not every job at once.

Its state lives in Redis beside the request budget; with no Redis each process keeps its
own (the same rule, per process).
"""

from __future__ import annotations

import threading
import time

import redis

from worker.fleet.errors import FleetUnavailable, Throttled

DEFAULT_KEY = "scenario-worker:breaker"
# Failures counted together when no answer comes in between; a quiet fleet forgets them.
FAILURE_WINDOW_S = 30.0
# An open breaker closes by itself when nothing has probed for this long.
OPEN_FOR_S = 60.0
# How long a held-back request waits before it asks again.
HELD_BACK_S = 5.0

# 0 while closed; 1 when this caller is the probe; else minus the milliseconds until the next probe.
_ADMIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return -math.max(1, redis.call('PTTL', KEYS[2]))
"""
_FAIL = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if n >= tonumber(ARGV[2]) then redis.call('SET', KEYS[2], '1', 'PX', ARGV[3]) end
return n
"""


class ScenarioDown(Throttled):
    """Scenario stopped answering: the fleet probes it one request at a time, and this one waits."""


def is_failure(status: int | None) -> bool:
    """Whether an answer (None: none came) says Scenario is not serving."""
    return status is None or status >= 500


class _Breaker:
    def __init__(self, *, failures_to_open: int, probe_every_s: float) -> None:
        self.failures_to_open = failures_to_open
        self.probe_every_s = probe_every_s
        self._local = threading.local()

    def admit(self) -> None:
        """Let the request go (closed, or as the probe), or raise ScenarioDown."""
        verdict = self._admit()
        self._local.probing = verdict == 1
        if verdict < 0:
            raise ScenarioDown(
                "Scenario is not answering; the fleet is probing it one request at a time",
                retry_after_s=max(HELD_BACK_S, -verdict / 1000),
            )

    def record(self, status: int | None) -> None:
        """An answer (or none) to a request that went out."""
        if is_failure(status):
            self._local.failed = True
            self._fail()
        elif getattr(self._local, "probing", False) or getattr(self._local, "failed", False):
            # Only a caller that saw trouble writes: an answer in good times costs nothing.
            self._local.failed = self._local.probing = False
            self._close()

    def is_open(self) -> bool:
        raise NotImplementedError

    def _admit(self) -> int:
        raise NotImplementedError

    def _fail(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class FleetBreaker(_Breaker):
    """The breaker shared by every worker through Redis."""

    def __init__(
        self, client: redis.Redis, *, failures_to_open: int, probe_every_s: float, key: str = DEFAULT_KEY
    ) -> None:
        super().__init__(failures_to_open=failures_to_open, probe_every_s=probe_every_s)
        self._redis = client
        self._keys = {"failures": f"{key}:failures", "open": f"{key}:open", "probe": f"{key}:probe"}
        self._admit_script = client.register_script(_ADMIT)
        self._fail_script = client.register_script(_FAIL)

    def is_open(self) -> bool:
        return bool(self._call(lambda: self._redis.exists(self._keys["open"])))

    def _admit(self) -> int:
        keys = [self._keys["open"], self._keys["probe"]]
        return int(self._call(lambda: self._admit_script(keys=keys, args=[_ms(self.probe_every_s)])))

    def _fail(self) -> None:
        keys = [self._keys["failures"], self._keys["open"]]
        args = [_ms(FAILURE_WINDOW_S), self.failures_to_open, _ms(OPEN_FOR_S)]
        self._call(lambda: self._fail_script(keys=keys, args=args))

    def _close(self) -> None:
        self._call(lambda: self._redis.delete(self._keys["failures"], self._keys["open"]))

    @staticmethod
    def _call(operation):
        try:
            return operation()
        except redis.RedisError as exc:
            raise FleetUnavailable(f"the fleet's breaker in Redis cannot be read: {exc}") from exc


class LocalBreaker(_Breaker):
    """The same rule kept by one process, for a fleet without Redis."""

    def __init__(self, *, failures_to_open: int, probe_every_s: float) -> None:
        super().__init__(failures_to_open=failures_to_open, probe_every_s=probe_every_s)
        self._lock = threading.Lock()
        self._failures, self._failed_at, self._open_until, self._next_probe = 0, 0.0, 0.0, 0.0

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def _admit(self) -> int:
        now = time.monotonic()
        with self._lock:
            if now >= self._open_until:
                return 0
            if now >= self._next_probe:
                self._next_probe = now + self.probe_every_s
                return 1
            return -max(1, int((self._next_probe - now) * 1000))

    def _fail(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._failed_at > FAILURE_WINDOW_S:
                self._failures = 0
            self._failures, self._failed_at = self._failures + 1, now
            if self._failures >= self.failures_to_open:
                self._open_until = now + OPEN_FOR_S

    def _close(self) -> None:
        with self._lock:
            self._failures, self._open_until = 0, 0.0


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


Breaker = FleetBreaker | LocalBreaker
