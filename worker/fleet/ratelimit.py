"""One request budget to Scenario for the whole fleet, kept in Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import redis
from redis.commands.core import Script

from worker.fleet.errors import FleetUnavailable

DEFAULT_KEY = "scenario-worker:ratelimit"

# GCRA on Redis' own clock (TIME), so that machines with drifting clocks still share
# one budget. KEYS[1] holds the theoretical arrival time (TAT) in microseconds,
# KEYS[2] the moment a 429 paused everyone until. Both expire once they no longer
# constrain anything, so an idle fleet leaves nothing behind.
# ARGV: interval_us, burst, idle margin in ms.
# Returns 0 when a token was taken, else the microseconds to wait (nothing taken).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < paused then return math.ceil(paused - now) end
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local allow_at = tat + interval - burst * interval
if now < allow_at then return math.ceil(allow_at - now) end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + tonumber(ARGV[3]))
return 0
"""

# ARGV: pause-until in epoch microseconds, interval_us, burst, idle margin in ms.
# The later pause wins. The bucket is drained up to the pause's end so that the
# fleet comes back one request at a time instead of with a full burst.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_us = math.max(tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[2]) or '0'))
if until_us <= now then return 0 end
local margin = tonumber(ARGV[4])
redis.call('SET', KEYS[2], string.format('%.0f', until_us),
           'PX', math.ceil((until_us - now) / 1000) + margin)
local drained = until_us + (tonumber(ARGV[3]) - 1) * tonumber(ARGV[2])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), drained)
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + margin)
return math.ceil(until_us - now)
"""

# Read-only: microseconds of pause left, on the server's clock.
_PAUSED_FOR = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < paused then return math.ceil(paused - now) end
return 0
"""

# Keys outlive the moment they stop mattering by this much, so a TTL never races a read.
_IDLE_MARGIN_MS = 1000


class RateLimiterUnavailable(FleetUnavailable):
    """Redis, which holds the fleet's request budget, did not answer."""


class RateLimitTimeout(TimeoutError):
    """No request slot came free within the time the caller was willing to wait."""

    def __init__(self, message: str, *, wait_s: float) -> None:
        super().__init__(message)
        self.wait_s = wait_s  # how much longer the next slot is away


class FleetRateLimiter:
    """A token bucket shared by every worker that points at the same Redis key."""

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        rate_per_s: float,
        burst: int | None = None,
        key: str = DEFAULT_KEY,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be greater than 0, got {rate_per_s!r}")
        self.rate_per_s = float(rate_per_s)
        self.burst = max(1, math.ceil(rate_per_s)) if burst is None else int(burst)
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.key = key
        # One hash tag for both keys, so a Redis Cluster keeps them on one node for the scripts.
        self._keys = [f"{{{key}}}:tat", f"{{{key}}}:pause"]
        self._interval_us = 1_000_000 / self.rate_per_s
        self._clock = clock or time.monotonic
        self._acquire = redis_client.register_script(_ACQUIRE)
        self._pause = redis_client.register_script(_PAUSE)
        self._paused_for = redis_client.register_script(_PAUSED_FOR)

    @classmethod
    def from_url(
        cls, url: str, *, rate_per_s: float, burst: int | None = None, key: str = DEFAULT_KEY
    ) -> FleetRateLimiter:
        """A limiter on its own client; short socket timeouts so a dead Redis fails fast."""
        client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
        return cls(client, rate_per_s=rate_per_s, burst=burst, key=key)

    def acquire(self, *, timeout_s: float | None = None) -> float:
        """Block until a request may go; return the seconds waited."""
        start = self._clock()
        while True:
            wait_s = self.try_acquire()
            waited_s = self._clock() - start
            if wait_s == 0:
                return waited_s
            if timeout_s is not None:
                # Give up now rather than sleep through a wait already known to be too long.
                if waited_s + wait_s > timeout_s:
                    raise RateLimitTimeout(
                        f"no request slot within {timeout_s:g} s (next one in {wait_s:.3f} s)", wait_s=wait_s
                    )
            # Another worker may take the slot we waited for; the loop asks again.
            time.sleep(wait_s)

    def try_acquire(self) -> float:
        """Take a token now and return 0.0, or take nothing and return the seconds to wait."""
        args = [repr(self._interval_us), self.burst, _IDLE_MARGIN_MS]
        return self._run(self._acquire, self._keys, args) / 1_000_000

    def pause_until(self, epoch_s: float) -> None:
        """Let no one in the fleet send a request before `epoch_s` (the later pause wins)."""
        args = [f"{epoch_s * 1_000_000:.0f}", repr(self._interval_us), self.burst, _IDLE_MARGIN_MS]
        self._run(self._pause, self._keys, args)

    def paused_for(self) -> float:
        """Seconds the fleet is still paused by `pause_until` (0.0 if not)."""
        return self._run(self._paused_for, self._keys[1:], []) / 1_000_000

    def _run(self, script: Script, keys: list[str], args: list[object]) -> int:
        try:
            return int(script(keys=keys, args=args))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RateLimiterUnavailable(f"Redis did not answer the rate limiter: {exc}") from exc
