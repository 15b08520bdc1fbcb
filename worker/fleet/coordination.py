"""Small pieces of fleet-wide state in Redis that keep one sweep and one download run going.

Knows Redis only; the tasks decide what to do with it.
"""

from __future__ import annotations

import time

import redis

PREFIX = "scenario-worker"

# Compare and delete in one step: a hold that lapsed and was taken by another run is left alone.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Coordination:
    def __init__(self, client: redis.Redis, *, interval_s: float) -> None:
        self._redis = client
        self._interval_s = interval_s
        self._release = client.register_script(_RELEASE)

    def arm(self, what: str, *, ttl_s: float | None = None) -> bool:
        """True for the one caller that should schedule the next run of `what`.

        The mark expires on its own (after `ttl_s`, default five sweep intervals and at least
        10 s), so a run lost with a dead worker is scheduled again by the next caller.
        """
        ttl_ms = int((ttl_s if ttl_s is not None else max(10.0, self._interval_s * 5)) * 1000)
        return bool(self._redis.set(f"{PREFIX}:armed:{what}", "1", nx=True, px=ttl_ms))

    def note(self, what: str, text: str) -> None:
        """Keep a short line for the console (the last reconciliation's counts)."""
        self._redis.set(f"{PREFIX}:note:{what}", text)

    def noted(self, what: str) -> str | None:
        value = self._redis.get(f"{PREFIX}:note:{what}")
        return None if value is None else value.decode()

    def disarm(self, what: str) -> None:
        self._redis.delete(f"{PREFIX}:armed:{what}")

    def claim(self, what: str, token: str, *, hold_s: float) -> bool:
        """Whether this run may go ahead: no other run of `what` holds it."""
        return bool(self._redis.set(f"{PREFIX}:running:{what}", token, nx=True, px=int(hold_s * 1000)))

    def held_for(self, what: str) -> float:
        """Seconds until the current hold on `what` lapses (0 when nobody holds it)."""
        ms = self._redis.pttl(f"{PREFIX}:running:{what}")
        return max(0.0, ms / 1000.0) if ms and ms > 0 else 0.0

    def release(self, what: str, token: str) -> bool:
        """End this run's hold on `what`; False when the hold is no longer this run's."""
        return bool(self._release(keys=[f"{PREFIX}:running:{what}"], args=[token]))

    def cursor(self, status: str) -> str | None:
        """The newest `updatedAt` (Scenario's clock, ISO text) the last listing of `status` saw."""
        value = self._redis.get(f"{PREFIX}:sweep:cursor:{status}")
        return value.decode() if value else None

    def set_cursor(self, status: str, iso: str) -> None:
        self._redis.set(f"{PREFIX}:sweep:cursor:{status}", iso, ex=86_400)

    def next_sweep_number(self) -> int:
        """Counts the fleet's sweeps, so that whichever worker runs one knows which it is."""
        return int(self._redis.incr(f"{PREFIX}:sweep:count"))

    def note_render_s(self, model_id: str, seconds: float, *, weight: float = 0.3) -> None:
        """Fold one observed render time into the model's running estimate (a hint: no lock needed)."""
        key = f"{PREFIX}:render-s"
        old = self._redis.hget(key, model_id)
        value = seconds if old is None else (1 - weight) * float(old) + weight * seconds
        self._redis.hset(key, model_id, repr(round(value, 3)))
        self._redis.expire(key, 7 * 86_400)

    def render_s(self) -> dict[str, float]:
        """Each model's typical render time, in seconds, as recently observed."""
        return {k.decode(): float(v) for k, v in self._redis.hgetall(f"{PREFIX}:render-s").items()}

    def beat(self) -> None:
        """The sweep ran just now."""
        self._redis.set(f"{PREFIX}:sweep:last", repr(time.time()), ex=86_400)

    def note_listed(self) -> None:
        """The sweep called Scenario's jobs list just now."""
        self._redis.set(f"{PREFIX}:sweep:listed", repr(time.time()), ex=86_400)

    def listed_s_ago(self) -> float | None:
        """Seconds since the sweep last called the jobs list; None when it never has (or Redis forgot)."""
        value = self._redis.get(f"{PREFIX}:sweep:listed")
        return None if value is None else max(0.0, time.time() - float(value))

    def sweep_is_alive(self) -> bool:
        value = self._redis.get(f"{PREFIX}:sweep:last")
        return value is not None and time.time() - float(value) < self._interval_s * 3 + 1.0

    def note_download_failure(self, batch_id: str, job_id: str) -> int:
        """One more failed download of the job's images; returns how many so far."""
        key = f"{PREFIX}:download-failures:{batch_id}"
        count = self._redis.hincrby(key, job_id, 1)
        self._redis.expire(key, 7 * 86_400)
        return int(count)

    def forget_download_failure(self, batch_id: str, job_id: str) -> None:
        self._redis.hdel(f"{PREFIX}:download-failures:{batch_id}", job_id)

    def download_failures(self, batch_id: str) -> int:
        """Items of the batch whose last download failed (their images are fetched again)."""
        return int(self._redis.hlen(f"{PREFIX}:download-failures:{batch_id}"))
