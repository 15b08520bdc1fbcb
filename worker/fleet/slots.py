"""The team's parallel limit as fleet-wide slots in Redis: how many of our jobs run on Scenario at once.

A slot is held per job id, in a sorted set scored by a lease expiry on Redis' clock, so the
slot of a job whose worker vanished comes back by itself. Jobs without a slot wait in a list,
in order of class (a job an application waits for before a batch item), then of the job's own
priority (JobOptions.priority: 0 first, 9 last), then of a virtual time:
each batch's next waiter is placed one step after the batch's previous one (or now, if later),
the step growing with the square root of the batch's size, so batches share the slots and a
small batch started after a big library gets most of them until it is done, while every
waiter's turn still comes. A freed slot names the waiters to wake so their submits
can be queued at once. A batch's items can take their places all at once without a message each
(`park`): the broker then holds about as many submits as there are slots, so a small batch's
first submits never queue behind a big one's thousand.
Every change is one Lua script, so two workers never both take the last slot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from redis.commands.core import Script

from worker.fleet.errors import FleetUnavailable
from worker.options import DEFAULT_PRIORITY, PRIORITY_MAX, PRIORITY_MIN

DEFAULT_KEY = "scenario-worker:slots"

# A learned cap grows back by one this many times within its lifetime.
GROW_BACK_STEPS = 4

# Between two waiters of one batch in virtual time: about how often the fleet frees a slot, so a
# batch that comes later is placed among the first waiters of one that came long before. A batch
# of n items steps this times the square root of n (turn_step_ms).
TURN_STEP_MS = 1000

# Classes of waiters: a job an application enqueued and waits for goes before a batch item.
BATCH = 0
APPLICATION = 1
_CLASSES = (BATCH, APPLICATION)
# In a waiter's place (ms of virtual time): a class outweighs every priority, and a priority step
# outweighs any span of time a waiter can wait, so priority orders strictly within a class.
CLASS_WEIGHT_MS = 10**13
PRIORITY_WEIGHT_MS = 10**11

# KEYS: 1 holders (job -> lease expiry ms), 2 waiting (job -> its place), 3 alive (job -> the
# moment a waiter that stopped asking is dropped, ms), 4 woken (job -> until when a wake is
# pending, ms), 5 learned cap, 6 turns (batch -> virtual time of its last waiter, ms), 7 ended
# (job -> when its slot was given back at its end, ms). ARGV[1] is always the configured cap
# (0: none of our own).
_COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function prune(now)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
    redis.call('ZREM', KEYS[2], id)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
end
-- A learned cap is "n|since ms|step ms": it grows back by one every step since the refusal that
-- set it, so one refusal never pins the fleet low for long; 0 when none is learned.
local function learned_now(now)
  local value = redis.call('GET', KEYS[5])
  if not value then return 0 end
  local n, since, step = string.match(value, '^(%d+)|(%d+)|(%d+)$')
  if not n then return tonumber(value) or 0 end
  return tonumber(n) + math.floor((now - tonumber(since)) / math.max(1, tonumber(step)))
end
local function cap()
  local configured = tonumber(ARGV[1])
  local learned = learned_now(now_ms())
  if configured <= 0 then
    if learned > 0 then return learned end
    return -1
  end
  if learned > 0 and learned < configured then return learned end
  return configured
end
-- A waiter's place: its class (higher goes first), then its priority (lower goes first), ahead of its
-- virtual time. A batch's waiter comes one step after the batch's last one (or now, if later);
-- `take` keeps that turn.
local function place(now, class, group, step, take, rank)
  local at = now
  if group ~= '' then
    local last = tonumber(redis.call('HGET', KEYS[6], group) or '0')
    at = math.max(now, last + tonumber(step))
    if take then redis.call('HSET', KEYS[6], group, at) end
  end
  return at - tonumber(class) * 1e13 + tonumber(rank) * 1e11
end
-- Waiters ahead of a job: its rank when it waits already, else all of a class and age at least its own.
local function ahead_of(job, score)
  return redis.call('ZRANK', KEYS[2], job) or redis.call('ZCOUNT', KEYS[2], '-inf', score)
end
local function forget_waiter(id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
end
-- The waiters the free slots admit now, less any woken within the grace (their submit is on its
-- way); each is marked woken for the grace.
local function wake_admitted(now, c, grace)
  local free
  if c < 0 then free = redis.call('ZCARD', KEYS[2]) else free = c - redis.call('ZCARD', KEYS[1]) end
  if free <= 0 then return {} end
  local wake = {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, free - 1)) do
    if not redis.call('ZSCORE', KEYS[4], id) then
      redis.call('ZADD', KEYS[4], now + grace, id)
      table.insert(wake, id)
    end
  end
  return wake
end
"""

# ARGV: cap, lease ms, job, class, batch ('' for none), turn step ms, priority. A job may take a free slot
# only if fewer waiters are ahead of it than there are free slots, so a newcomer never overtakes a
# waiter placed before it (of its class and turn, or of a higher class).
_ACQUIRE = (
    _COMMON
    + """
local now = now_ms()
prune(now)
local job = ARGV[3]
local lease = tonumber(ARGV[2])
if redis.call('ZSCORE', KEYS[1], job) then
  redis.call('ZADD', KEYS[1], now + lease, job)
  return 1
end
local c = cap()
if c >= 0 then
  local free = c - redis.call('ZCARD', KEYS[1])
  if free <= 0 then return 0 end
  if ahead_of(job, place(now, ARGV[4], ARGV[5], ARGV[6], false, ARGV[7])) >= free then return 0 end
end
redis.call('ZADD', KEYS[1], now + lease, job)
forget_waiter(job)
return 1
"""
)

# ARGV: cap, alive ms, job, class, batch ('' for none), turn step ms, priority. Keeps the first place it
# took; returns how many are ahead.
_WAIT = (
    _COMMON
    + """
local now = now_ms()
prune(now)
if not redis.call('ZSCORE', KEYS[2], ARGV[3]) then
  redis.call('ZADD', KEYS[2], place(now, ARGV[4], ARGV[5], ARGV[6], true, ARGV[7]), ARGV[3])
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[3])
return redis.call('ZRANK', KEYS[2], ARGV[3])
"""
)

# ARGV: cap, alive ms, job. A waiter's look on its own timer: its rank (and it stays alive) while
# it waits and the free slots are for those ahead of it; -1 when it may try (or waits no more).
_STILL_WAITING = (
    _COMMON
    + """
local now = now_ms()
prune(now)
local job = ARGV[3]
local rank = redis.call('ZRANK', KEYS[2], job)
if not rank or redis.call('ZSCORE', KEYS[4], job) then return -1 end
local c = cap()
if c < 0 or rank < c - redis.call('ZCARD', KEYS[1]) then return -1 end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), job)
return rank
"""
)

# ARGV: cap, wake grace ms, job. Returns the waiters to wake: those the freed slots now
# admit, less any woken within the grace (their submit is on its way).
_RELEASE = (
    _COMMON
    + """
local now = now_ms()
prune(now)
local held = redis.call('ZREM', KEYS[1], ARGV[3])
forget_waiter(ARGV[3])
redis.call('ZADD', KEYS[7], now, ARGV[3])
if held == 0 then return {} end
return wake_admitted(now, cap(), tonumber(ARGV[2]))
"""
)

# ARGV: cap, wake grace ms, class, batch, turn step ms, then job and priority in pairs. Batch items
# that take their places in the waiting list at once, in order, without a submit message each: no
# alive entry, so they wait until a freed slot wakes them, however long. Returns the waiters to
# wake now, as `release` does; false (nothing parked) when there is no cap to wait for.
_PARK = (
    _COMMON
    + """
local now = now_ms()
prune(now)
local c = cap()
if c < 0 then return false end
for i = 6, #ARGV, 2 do
  if not redis.call('ZSCORE', KEYS[2], ARGV[i]) and not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[2], place(now, ARGV[3], ARGV[4], ARGV[5], true, ARGV[i + 1]), ARGV[i])
  end
end
return wake_admitted(now, c, tonumber(ARGV[2]))
"""
)

# ARGV: cap, wake grace ms. The waiters free slots admit that no release named (a wake whose
# submit was lost, a holder whose lease ran out): woken as `release` wakes them.
_WAKE = (
    _COMMON
    + """
local now = now_ms()
prune(now)
return wake_admitted(now, cap(), tonumber(ARGV[2]))
"""
)

# ARGV: cap, jobs... The jobs leave the waiting list (a slot they hold is theirs still).
_FORGET = (
    _COMMON
    + """
for i = 2, #ARGV do forget_waiter(ARGV[i]) end
return #ARGV - 1
"""
)

# ARGV: cap, jobs... Which of the jobs are in the waiting list (1) or not (0).
_WAITING = (
    _COMMON
    + """
local now = now_ms()
prune(now)
local found = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) then found[i - 1] = 1 else found[i - 1] = 0 end
end
return found
"""
)

# ARGV: cap, lease ms, jobs... A job still running keeps (or gets back) its slot; one whose slot
# was given back at its end within the last lease does not: the look that saw it running can
# come after the look that saw it end (a poll or the sweep beside a webhook's look), and would
# otherwise hold a slot for a finished job until the lease runs out. Returns the slots kept.
_REFRESH = (
    _COMMON
    + """
local now = now_ms()
prune(now)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - lease)
local kept = 0
for i = 3, #ARGV do
  if not redis.call('ZSCORE', KEYS[7], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + lease, ARGV[i])
    kept = kept + 1
  end
end
return kept
"""
)

# ARGV: cap, n, ttl ms, step ms. The smaller of n and the cap learned so far (as it has grown
# back since) holds from now, growing back by one a step, until it expires.
_SHRINK = (
    _COMMON
    + """
local now = now_ms()
local n = math.max(1, tonumber(ARGV[2]))
local learned = learned_now(now)
if learned > 0 and learned < n then n = learned end
redis.call('SET', KEYS[5], n .. '|' .. now .. '|' .. ARGV[4], 'PX', tonumber(ARGV[3]))
return n
"""
)

# ARGV: cap. Read-only: {holders with a live lease, effective cap or -1}.
_IN_USE = (
    _COMMON
    + """
return {redis.call('ZCOUNT', KEYS[1], '(' .. now_ms(), '+inf'), cap()}
"""
)


def turn_step_ms(items: int | None) -> int:
    """Between two waiters of a batch of `items` in virtual time.

    Batches waiting together are served in inverse proportion to their steps: a 20-item batch
    beside a 1,000-item library takes about seven turns to the library's one, so the small one
    is done in minutes while the library still moves; two batches of one size take turns.
    """
    return max(TURN_STEP_MS, round(TURN_STEP_MS * math.sqrt(max(1, items or 1))))


class SlotsUnavailable(FleetUnavailable):
    """Redis, which holds the fleet's parallel slots, did not answer."""


class FleetSlots:
    """At most `cap` jobs on Scenario at once across every worker pointing at the same Redis key.

    `cap` 0 means no cap of our own: only a cap learned from Scenario's refusals applies.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        cap: int,
        lease_s: float,
        learned_for_s: float,
        key: str = DEFAULT_KEY,
    ) -> None:
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
            raise ValueError(f"cap must be a whole number, 0 (no cap of our own) or more, got {cap!r}")
        if not lease_s > 0:
            raise ValueError(f"lease_s must be greater than 0, got {lease_s!r}")
        if not learned_for_s > 0:
            raise ValueError(f"learned_for_s must be greater than 0, got {learned_for_s!r}")
        self.configured_cap = cap
        self.lease_s = float(lease_s)
        self.learned_for_s = float(learned_for_s)
        self.key = key
        # One hash tag for every key, so a Redis Cluster keeps them on one node for the scripts.
        parts = ("holders", "waiting", "alive", "woken", "learned", "turns", "ended")
        self._keys = [f"{{{key}}}:{part}" for part in parts]
        self._scripts = {
            name: redis_client.register_script(source)
            for name, source in (
                ("acquire", _ACQUIRE),
                ("wait", _WAIT),
                ("still_waiting", _STILL_WAITING),
                ("release", _RELEASE),
                ("park", _PARK),
                ("wake", _WAKE),
                ("waiting", _WAITING),
                ("forget", _FORGET),
                ("refresh", _REFRESH),
                ("shrink", _SHRINK),
                ("in_use", _IN_USE),
            )
        }

    def acquire(
        self,
        job_id: str,
        *,
        priority: int = BATCH,
        group: str | None = None,
        rank: int = DEFAULT_PRIORITY,
        group_items: int | None = None,
    ) -> bool:
        """Take a slot for the job (or extend the one it holds); False when none is free for it.

        `priority` is its class: waiters of a higher class are served first (APPLICATION before
        BATCH). `rank` is the job's own priority within its class (0 first, 9 last). `group`
        (a batch of `group_items`) takes turns with the other groups of its class and rank.
        """
        step = turn_step_ms(group_items)
        args = [_ms(self.lease_s), job_id, _class(priority), group or "", step, _rank(rank)]
        return bool(self._run("acquire", args))

    def wait(
        self,
        job_id: str,
        *,
        alive_s: float,
        priority: int = BATCH,
        group: str | None = None,
        rank: int = DEFAULT_PRIORITY,
        group_items: int | None = None,
    ) -> int:
        """Put the job in the waiting list (it keeps its place if already there); return its rank.

        A waiter not seen again within `alive_s` is dropped, so a job that vanished while
        waiting does not hold back those behind it for ever.
        """
        args = [_ms(alive_s), job_id, _class(priority), group or "", turn_step_ms(group_items), _rank(rank)]
        return int(self._run("wait", args))

    def still_waiting(self, job_id: str, *, alive_s: float) -> int | None:
        """A waiter's own look: its rank while it still waits and no free slot is for it (it stays
        alive for `alive_s`); None when it may try for a slot, was woken, or is no waiter."""
        rank = int(self._run("still_waiting", [_ms(alive_s), job_id]))
        return None if rank < 0 else rank

    def release(self, job_id: str, *, wake_grace_s: float) -> list[str]:
        """Give back the job's slot (and its place in the waiting list); return the waiters to wake.

        A waiter named here is not named again for `wake_grace_s`, while its submit is on its way.
        """
        return _names(self._run("release", [_ms(wake_grace_s), job_id]))

    def park(
        self,
        jobs: Sequence[tuple[str, int]],
        *,
        group: str,
        group_items: int | None,
        wake_grace_s: float,
    ) -> list[str] | None:
        """Put a batch's new items, (job id, priority) in order, in the waiting list without a
        submit message each; return the waiters to wake now (as `release` does), or None when
        there is no cap to wait for (nothing was parked: every item is sent at once).

        A parked item is never dropped for not asking again: a freed slot or `wake` names it
        when its turn comes, so a long batch queues about as many messages as there are slots.
        """
        if not jobs:
            return []
        args: list[object] = [_ms(wake_grace_s), _class(BATCH), group, turn_step_ms(group_items)]
        for job_id, rank in jobs:
            args += [job_id, _rank(rank)]
        woken = self._run("park", args)
        return None if woken is None else _names(woken)

    def wake(self, *, wake_grace_s: float) -> list[str]:
        """The waiters the free slots admit that no release named (a lost wake, a lapsed lease)."""
        return _names(self._run("wake", [_ms(wake_grace_s)]))

    def forget(self, job_ids: Iterable[str]) -> None:
        """The jobs wait no more (they need no submit any more); a slot one holds is left alone."""
        ids = list(job_ids)
        if ids:
            self._run("forget", ids)

    def waiting_among(self, job_ids: Iterable[str]) -> set[str]:
        """Those of the jobs that are in the waiting list."""
        ids = list(job_ids)
        if not ids:
            return set()
        found = self._run("waiting", ids)
        return {job_id for job_id, flag in zip(ids, found, strict=True) if int(flag)}

    def refresh(self, job_ids: Iterable[str]) -> int:
        """Extend the leases of jobs seen still running; a job whose lease lapsed gets its slot back,
        unless its slot was given back at its end (a look that read it running came late). Returns
        the slots kept."""
        ids = list(job_ids)
        if not ids:
            return 0
        return int(self._run("refresh", [_ms(self.lease_s), *ids]))

    def shrink_to(self, n: int, *, grows_back: bool = True) -> int:
        """Scenario refused a job for its parallel limit with `n` of ours running: cap at that (at least 1).

        The learned cap grows back by one every `learned_for_s / GROW_BACK_STEPS` (one more submit
        at a time, which Scenario refuses again if the plan is still full), and lapses after
        `learned_for_s`, so a refusal caused by someone else's jobs, or a plan upgrade, does not
        hold the fleet low. A limit read from the plan itself (`grows_back` False) only lapses.
        Returns the learned cap.
        """
        lifetime_ms = _ms(self.learned_for_s)
        step_ms = _ms(self.learned_for_s / GROW_BACK_STEPS) if grows_back else lifetime_ms + 1
        return int(self._run("shrink", [int(n), lifetime_ms, step_ms]))

    def in_use(self) -> int:
        """Slots held now."""
        return int(self._run("in_use", [])[0])

    @property
    def cap(self) -> int | None:
        """The effective cap: the configured one or the learned one, whichever is smaller; None for none."""
        value = int(self._run("in_use", [])[1])
        return None if value < 0 else value

    def _run(self, name: str, args: list[object]) -> object:
        script: Script = self._scripts[name]
        try:
            return script(keys=self._keys, args=[self.configured_cap, *args])
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise SlotsUnavailable(f"Redis did not answer the parallel slots: {exc}") from exc


def _names(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _class(priority: int) -> int:
    if priority not in _CLASSES:
        raise ValueError(f"priority must be one of {_CLASSES}, got {priority!r}")
    return priority


def _rank(rank: int) -> int:
    if isinstance(rank, bool) or not isinstance(rank, int) or not PRIORITY_MIN <= rank <= PRIORITY_MAX:
        raise ValueError(f"rank must be a whole number from {PRIORITY_MIN} to {PRIORITY_MAX}, got {rank!r}")
    return rank


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))
