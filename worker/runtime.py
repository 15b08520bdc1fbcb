"""The long-lived objects one process needs: settings, the Scenario client, the database,
and the fleet's shared state in Redis.

Built on first use, never at import, and rebuilt in each forked worker child so
no connection is shared across a fork.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from worker.db.batches import BatchRepository
from worker.db.budgets import BudgetLedger
from worker.db.callbacks import CallbackRepository
from worker.db.deadletters import DeadLetterRepository
from worker.db.jobs import JobRepository
from worker.db.session import Database
from worker.fleet.breaker import Breaker, FleetBreaker, LocalBreaker
from worker.fleet.coordination import Coordination
from worker.fleet.errors import FleetUnavailable, Throttled
from worker.fleet.pause import AuthPause
from worker.fleet.ratelimit import FleetRateLimiter, RateLimiterUnavailable, RateLimitTimeout
from worker.fleet.slots import FleetSlots
from worker.preflight import ModelCatalogue, Preflight, ReferenceUploads
from worker.scenario.client import ScenarioClient
from worker.scenario.errors import NetworkError, RateLimited
from worker.settings import Settings
from worker.waits import BUDGET_WAIT_MAX_S

# With no budget set, the limiter still carries the fleet-wide pause after a 429.
UNLIMITED_RATE_PER_S = 1_000_000.0


@dataclass
class Runtime:
    settings: Settings
    client: ScenarioClient
    database: Database
    jobs: JobRepository
    dead_letters: DeadLetterRepository
    batches: BatchRepository
    budgets: BudgetLedger
    redis: redis.Redis | None = None
    limiter: FleetRateLimiter | None = None
    auth_pause: AuthPause | None = None
    coordination: Coordination | None = None
    preflight: Preflight | None = None
    slots: FleetSlots | None = None
    breaker: Breaker | None = None
    # Reads the plan's parallel limit of a team (GET /teams/{id}/limits); None until one is given.
    team_limit_reader: Callable[[str], int | None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        database = Database(settings.database_url, schema=settings.db_schema)
        shared = limiter = pause = coordination = slots = None
        if settings.fleet_redis_url is not None:
            shared = redis.Redis.from_url(settings.fleet_redis_url, socket_connect_timeout=2, socket_timeout=5)
            limiter = FleetRateLimiter(shared, rate_per_s=settings.fleet_requests_per_s or UNLIMITED_RATE_PER_S)
            pause = AuthPause(shared)
            coordination = Coordination(shared, interval_s=settings.sweep_interval_s)
            slots = FleetSlots(
                shared,
                cap=settings.parallel_jobs,
                lease_s=settings.slot_lease_s,
                learned_for_s=settings.learned_cap_s,
            )
        breaker = _breaker(settings, shared)
        client = ScenarioClient.from_settings(
            settings,
            before_request=_before_request(breaker, limiter),
            on_rate_limited=_pause_after_429(limiter) if limiter else None,
            on_answer=_on_answer(breaker),
        )
        preflight = Preflight(
            ModelCatalogue(client, shared, ttl_s=settings.model_cache_s), ReferenceUploads(client, shared)
        )
        return cls(
            settings=settings,
            client=client,
            database=database,
            jobs=JobRepository(database),
            dead_letters=DeadLetterRepository(database),
            batches=BatchRepository(database),
            budgets=BudgetLedger(database),
            redis=shared,
            limiter=limiter,
            auth_pause=pause,
            coordination=coordination,
            preflight=preflight,
            slots=slots,
            breaker=breaker,
            team_limit_reader=_team_limit(client) if settings.scenario_team_id else None,
        )

    @property
    def callbacks(self) -> CallbackRepository:
        return CallbackRepository(self.database)

    @property
    def sweeps(self) -> bool:
        """Whether batch jobs are watched by the shared sweep (it needs Redis)."""
        return self.settings.batched_polling and self.coordination is not None

    def learn_team_limit(self) -> int | None:
        """Cap the slots at the plan's parallel limit read for SCENARIO_TEAM_ID, when a reader is set.

        The limit is learned like a refusal's (it expires, so a plan change is picked up).
        """
        team_id = self.settings.scenario_team_id
        if not team_id or self.team_limit_reader is None or self.slots is None:
            return None
        limit = self.team_limit_reader(team_id)
        if limit is None:
            return None
        return self.slots.shrink_to(limit, grows_back=False)

    def close(self) -> None:
        self.client.close()
        self.database.dispose()
        if self.redis is not None:
            self.redis.close()


def _team_limit(client: ScenarioClient) -> Callable[[str], int | None]:
    def read(team_id: str) -> int | None:
        limits = client.get_team_limits(team_id)
        for name in ("parallelInferences", "parallelCustomJobs"):
            value = limits.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return None

    return read


def _breaker(settings: Settings, shared: redis.Redis | None) -> Breaker | None:
    if settings.breaker_failures == 0:
        return None
    options = {"failures_to_open": settings.breaker_failures, "probe_every_s": settings.breaker_probe_s}
    return FleetBreaker(shared, **options) if shared is not None else LocalBreaker(**options)


def _before_request(breaker: Breaker | None, limiter: FleetRateLimiter | None) -> Callable[[str], None] | None:
    """Before a request leaves: the fleet's breaker, then its request budget."""
    if breaker is None and limiter is None:
        return None

    def before_request(endpoint: str) -> None:
        if endpoint == "download":
            return  # signed asset URLs are served by a CDN, outside the API's budget and its breaker
        if breaker is not None:
            try:
                breaker.admit()
            except FleetUnavailable as exc:
                raise NetworkError(str(exc)) from exc
        if limiter is not None:
            _take_budget(limiter, endpoint)

    return before_request


def _on_answer(breaker: Breaker | None) -> Callable[[str, int | None], None] | None:
    if breaker is None:
        return None

    def on_answer(endpoint: str, status: int | None) -> None:
        if endpoint == "download":
            return
        try:
            breaker.record(status)
        except FleetUnavailable:
            pass  # a Redis that does not answer is met by the next request's own check

    return on_answer


def _take_budget(limiter: FleetRateLimiter, endpoint: str) -> None:
    try:
        limiter.acquire(timeout_s=BUDGET_WAIT_MAX_S)
    except RateLimitTimeout as exc:
        raise Throttled(
            f"the fleet's request budget is spent; {endpoint} may go in {exc.wait_s:.2f} s",
            retry_after_s=exc.wait_s,
        ) from None
    except RateLimiterUnavailable as exc:
        raise NetworkError(f"the fleet's request budget in Redis cannot be read: {exc}") from exc


# How long the fleet holds back after a 429 that names no Retry-After.
PAUSE_AFTER_429_S = 1.0


def _pause_after_429(limiter: FleetRateLimiter):
    def on_rate_limited(exc: RateLimited) -> None:
        try:
            limiter.pause_until(time.time() + (exc.retry_after_s or PAUSE_AFTER_429_S))
        except RateLimiterUnavailable:
            pass  # the task's own retry still waits out Retry-After

    return on_rate_limited


_lock = threading.Lock()
_current: Runtime | None = None


def current() -> Runtime:
    """This process's runtime, built from the environment the first time it is asked for."""
    global _current
    with _lock:
        if _current is None:
            _current = Runtime.from_settings(Settings.from_env())
        return _current


def current_settings() -> Settings:
    return current().settings


def install(settings: Settings) -> Runtime:
    """Replace this process's runtime (the CLI and tests build settings themselves)."""
    global _current
    with _lock:
        if _current is not None:
            _current.close()
        _current = Runtime.from_settings(settings)
        return _current


def forget() -> None:
    """Drop the runtime without closing it: after a fork the parent's sockets are not ours."""
    global _current
    with _lock:
        _current = None
