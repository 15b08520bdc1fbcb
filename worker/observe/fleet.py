"""The gauges that describe the whole fleet, read from Redis, the broker and the database at scrape time.

Every process would push the same numbers; read once per scrape instead, they cost
nothing between scrapes. A source that does not answer leaves its gauges out of that
scrape (a gap on the dashboard), never fails the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import redis

from worker import lanes
from worker.db.backlog import oldest_unsent
from worker.db.budgets import BudgetLedger
from worker.db.session import Database
from worker.fleet.breaker import DEFAULT_KEY as BREAKER_KEY
from worker.fleet.pause import AuthPause
from worker.fleet.ratelimit import FleetRateLimiter
from worker.fleet.slots import FleetSlots
from worker.settings import Settings

log = logging.getLogger("worker.observe")

GAUGES = {
    "scenario_slots_in_use": "The fleet's plan slots held now (jobs of ours running on Scenario)",
    "scenario_slots_cap": "The fleet's plan slots: the configured or learned cap, whichever is smaller",
    "scenario_fleet_paused": "1 while the fleet holds back for this reason (credentials, payment, rate_limit, breaker)",
    "scenario_queue_depth": "Messages waiting in the lane's broker queue",
    "scenario_queue_oldest_age_seconds": "Age of the oldest job of the lane that Scenario has not accepted yet",
    "scenario_daily_budget_cu": (
        "Creative units of today's (UTC) fleet-wide budget: committed (spent, and estimated for jobs in "
        "flight), left, and the limit (SCENARIO_DAILY_CU_BUDGET); only committed without a limit"
    ),
}
PAUSE_REASONS = ("credentials", "payment", "rate_limit", "breaker")
# Kombu keeps a Redis queue's messages of priority n > 0 in a list of its own next to the queue's.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
_BROKER_TIMEOUT_S = 2.0


class FleetCollector:
    """A prometheus_client collector over the fleet's shared state; its own connections, none held between scrapes."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def describe(self) -> list[Any]:
        return []  # read at scrape time only: registering it must not reach Redis or the database

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        families = {name: GaugeMetricFamily(name, doc, labels=_labels(name)) for name, doc in GAUGES.items()}
        shared = self._redis(self._settings.fleet_redis_url)
        try:
            if shared is not None:
                _read("slots", lambda: self._slots(shared, families))
                _read("pauses", lambda: self._pauses(shared, families))
            _read("queue depth", lambda: self._depth(families))
            _read("oldest job and the daily budget", lambda: self._from_the_database(families))
        finally:
            if shared is not None:
                shared.close()
        yield from families.values()

    def _slots(self, shared: redis.Redis, families: dict[str, Any]) -> None:
        s = self._settings
        slots = FleetSlots(shared, cap=s.parallel_jobs, lease_s=s.slot_lease_s, learned_for_s=s.learned_cap_s)
        families["scenario_slots_in_use"].add_metric([], slots.in_use())
        cap = slots.cap
        if cap is not None:
            families["scenario_slots_cap"].add_metric([], cap)

    def _pauses(self, shared: redis.Redis, families: dict[str, Any]) -> None:
        pause = AuthPause(shared).current()
        limiter = FleetRateLimiter(shared, rate_per_s=self._settings.fleet_requests_per_s or 1.0)
        paused = {
            "credentials": pause is not None and pause.status != 402,
            "payment": pause is not None and pause.status == 402,
            "rate_limit": limiter.paused_for() > 0,
            "breaker": bool(shared.exists(f"{BREAKER_KEY}:open")),
        }
        for reason in PAUSE_REASONS:
            families["scenario_fleet_paused"].add_metric([reason], int(paused[reason]))

    def _depth(self, families: dict[str, Any]) -> None:
        depths = self._queue_depths()
        for lane, depth in depths.items():
            families["scenario_queue_depth"].add_metric([lane], depth)

    def _queue_depths(self) -> dict[str, int]:
        url = self._settings.broker_url
        if self._settings.uses_redis:
            client = self._redis(url)
            assert client is not None
            try:
                with client.pipeline(transaction=False) as pipe:
                    for lane in lanes.ALL:
                        for suffix in _PRIORITY_SUFFIXES:
                            pipe.llen(lane + suffix)
                    counts = pipe.execute()
            finally:
                client.close()
            step = len(_PRIORITY_SUFFIXES)
            return {lane: sum(counts[i * step : (i + 1) * step]) for i, lane in enumerate(lanes.ALL)}
        if self._settings.uses_amqp:
            return _amqp_depths(url)
        return {}  # the embedded file broker: nothing to ask

    def _from_the_database(self, families: dict[str, Any]) -> None:
        database = Database(self._settings.database_url)
        try:
            oldest = oldest_unsent(database)
            committed = BudgetLedger(database).day_committed()
        finally:
            database.dispose()
        now = datetime.now(timezone.utc)
        for lane in (lanes.SUBMIT, lanes.BATCH):
            age_s = (now - oldest[lane]).total_seconds() if lane in oldest else 0.0
            families["scenario_queue_oldest_age_seconds"].add_metric([lane], max(0.0, age_s))
        budget = families["scenario_daily_budget_cu"]
        budget.add_metric(["committed"], committed)
        limit = self._settings.daily_cu_budget
        if limit > 0:
            budget.add_metric(["limit"], limit)
            budget.add_metric(["left"], max(0.0, limit - committed))

    @staticmethod
    def _redis(url: str | None) -> redis.Redis | None:
        if url is None:
            return None
        return redis.Redis.from_url(url, socket_connect_timeout=_BROKER_TIMEOUT_S, socket_timeout=_BROKER_TIMEOUT_S)


def _amqp_depths(url: str) -> dict[str, int]:
    from kombu import Connection

    depths: dict[str, int] = {}
    with Connection(url, connect_timeout=_BROKER_TIMEOUT_S) as connection:
        channel = connection.channel()
        try:
            for lane in lanes.ALL:
                # Passive: asks about the queue, never creates it.
                depths[lane] = channel.queue_declare(queue=lane, passive=True).message_count
        finally:
            channel.close()
    return depths


def _labels(name: str) -> list[str]:
    if name == "scenario_fleet_paused":
        return ["reason"]
    if name.startswith("scenario_queue_"):
        return ["lane"]
    if name == "scenario_daily_budget_cu":
        return ["state"]
    return []


def _read(what: str, read: Any) -> None:
    try:
        read()
    except Exception as exc:  # a scrape shows what it could read; the logs say what it could not
        log.warning("metrics: could not read the %s: %s", what, exc)
