"""Every knob of the system, read from the environment in one place.

Nothing here runs at import time: call `Settings.from_env()` at the edge (the
Celery app's configuration hook, the CLI) and pass the object in.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from worker import waits
from worker.callbacks.signing import secret_key
from worker.errors import WorkerError
from worker.waits import countdown_cap_s, redelivery_horizon_s, stalled_after_s

# A task that runs longer than this is stuck (a request hangs past its own timeouts).
DEFAULT_TIME_LIMIT_S = 180.0
DEFAULT_FLEET_WAIT_HOP_S = 20.0

REAL_API_URL = "https://api.cloud.scenario.com/v1"
SUBMIT_ROUTES = ("custom", "txt2img")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
HEARTBEAT_FILE_NAME = "scenario-worker.heartbeat"
# RabbitMQ closes a channel that holds a delivery unacknowledged longer than its
# `consumer_timeout` (30 min by default), and a countdown task is held so by its
# worker: every countdown stays well under it.
AMQP_COUNTDOWN_MAX_S = 900
_REDIS_SCHEMES = ("redis://", "rediss://")
# Our tables' PostgreSQL schema, so that they share an application's database without meeting its own.
DEFAULT_DB_SCHEMA = "scenario"
# A plain lower-case identifier within PostgreSQL's 63-byte limit: it is used unquoted in raw SQL.
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")


class SettingsError(WorkerError, ValueError):
    """An environment variable holds a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    scenario_api_url: str = REAL_API_URL
    scenario_api_key: str = ""
    # Kept out of repr so that a logged Settings never shows it.
    scenario_api_secret: str = field(default="", repr=False)
    broker_url: str = "redis://localhost:6379/0"
    # Where the fleet's shared state lives (budget, pauses, leases, the sweep);
    # empty: the broker's Redis, or none with another broker.
    redis_url: str = ""
    database_url: str = "sqlite:///scenario-worker.db"
    # The PostgreSQL schema holding our tables (created by `db upgrade`); SQLite has none.
    db_schema: str = DEFAULT_DB_SCHEMA

    # HTTP to Scenario.
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    # How long after a submit request gave up Scenario may still make its job (a loaded service
    # finishes work its client stopped waiting for): a lost answer is looked for only after it.
    late_submit_s: float = 60.0

    # Retries of transient errors (Celery's autoretry_for). Short enough that a dead worker's
    # waiting tasks are told from live ones within a minute (see worker/waits.py).
    retry_backoff_s: int = 2
    retry_backoff_max_s: int = 20
    retry_jitter: bool = True
    max_retries: int = 8
    # An outage of our own infrastructure (database, Redis, broker) is retried for this long,
    # whatever the count, and never spends a job's tries.
    outage_budget_s: float = 600.0
    # A task waiting on the fleet (a pause, a lease, a slot) looks again at least this often;
    # 0: 20 s, or half the broker's redelivery horizon if that is shorter.
    fleet_wait_hop_s: float = 0.0

    # Polling a running job: each poll is its own short task.
    poll_initial_s: float = 1.0
    poll_max_s: float = 20.0
    poll_growth: float = 1.5
    job_deadline_s: float = 1800.0

    # Crash safety.
    visibility_timeout_s: int = 3600
    max_deliveries: int = 5
    worker_eta_task_limit: int = 5000
    worker_prefetch_multiplier: int = 4
    # The workers look for jobs whose message was lost (a dead worker's countdowns, a broker that
    # lost its data) this often; 0 turns the workers' own timer off (run `celery beat` instead).
    recovery_interval_s: float = 10.0
    # A job nothing touched for this long is sent again; 0: twice the longest countdown.
    stalled_after_s: float = 0.0
    # Every task is stopped softly (a retry), then hard; 0: the defaults below, kept under the
    # broker's redelivery horizon.
    task_soft_time_limit_s: float = 0.0
    task_time_limit_s: float = 0.0

    # Batch jobs are watched by one sweep of the jobs list call instead of a
    # request per job; a job the sweep has not seen for `sweep_stale_after_s`
    # is looked at on its own.
    batched_polling: bool = True
    sweep_interval_s: float = 2.0
    sweep_stale_after_s: float = 20.0
    # From this many unfinished jobs, single jobs are swept too: below it a
    # job's own polls cost less than the sweep's three list calls every interval.
    sweep_from_jobs: int = 8

    # Fleet-wide request budget to Scenario, shared by every worker through Redis;
    # 0 means no budget (a 429 still pauses the whole fleet).
    fleet_requests_per_s: float = 0.0
    # How long submits pause for the whole fleet after a 401 or 402.
    auth_pause_s: float = 60.0
    # Failures in a row (5xx, no answer) after which the fleet holds back and probes Scenario
    # one request at a time, every `breaker_probe_s` at most, until it answers; 0 turns it off.
    breaker_failures: int = 5
    breaker_probe_s: float = 1.0
    # How often the recovery also lists Scenario's recent jobs to adopt or cancel any that no row
    # holds (`scenario-worker jobs reconcile`); 0 turns it off.
    reconcile_interval_s: float = 300.0

    # Generations go through `/generate/custom/{modelId}` ("custom"), or the older
    # `/generate/txt2img` ("txt2img").
    submit_route: str = "custom"
    # How long a model's input schema is trusted before it is fetched again.
    model_cache_s: float = 3600.0
    # Jobs of ours running on Scenario at once, fleet-wide (the plan's parallel limit);
    # 0 means no cap of our own (a cap learned from Scenario's refusals still applies).
    parallel_jobs: int = 0
    # How long a slot stays held without a look at its job; polls and sweeps extend it.
    slot_lease_s: float = 120.0
    # How long a cap learned from a parallel-limit refusal holds, so a plan upgrade is picked up.
    learned_cap_s: float = 600.0
    # The team whose plan limits (GET /teams/{id}/limits) may set the cap; empty: none.
    scenario_team_id: str = ""
    # Creative units the fleet may commit per UTC day (what Scenario charged plus what is being
    # sent, by the dry run's estimate); 0 means no daily budget. A job that would pass it waits, paused.
    daily_cu_budget: float = 0.0

    # Completion callbacks (worker/callbacks). Each delivery is signed with its endpoint's secret
    # (`whsec_` + base64): SCENARIO_CALLBACK_SECRETS is a JSON object of URL prefix or host ->
    # secret, the most specific match wins; SCENARIO_CALLBACK_SECRET signs for any other URL.
    # A URL with no secret is never called unsigned: its delivery is dead-lettered. Kept out of repr.
    callback_secret: str = field(default="", repr=False)
    callback_secrets: str = field(default="", repr=False)
    callback_timeout_s: float = 10.0
    # Attempts per delivery before it is dead-lettered; the waits between them double from
    # `callback_backoff_s` up to `callback_backoff_max_s` (about an hour and a half in all by default).
    callback_max_attempts: int = 12
    callback_backoff_s: float = 5.0
    callback_backoff_max_s: float = 900.0

    # Scenario's webhooks (inference.completed / failed / cancelled), received by the console at
    # POST /hooks/scenario, are hints: each asks for one look at its job at once. With a secret,
    # a delivery not signed with it is dropped before any look; without one every hint is taken
    # (a forged one costs a GET, never a wrong state). Kept out of repr.
    webhook_secret: str = field(default="", repr=False)
    # How far a signed delivery's timestamp may stray from our clock, seconds.
    webhook_tolerance_s: float = 300.0

    log_level: str = "INFO"
    # The port each worker serves Prometheus metrics on (`/metrics`); 0 serves none.
    metrics_port: int = 0
    # "text" for people, "json" for a log collector: one object per line.
    log_format: str = "text"
    # A worker's main process touches this file every `heartbeat_interval_s` while its consumer
    # runs (`scenario-worker health --worker` reads it); empty: a file in the temp directory.
    heartbeat_file: str = ""
    heartbeat_interval_s: float = 10.0

    def __post_init__(self) -> None:
        self._check_callbacks()
        self._check_countdowns()
        self._check_waits()
        self._check_redis()
        for name in (
            "connect_timeout_s",
            "read_timeout_s",
            "late_submit_s",
            "poll_initial_s",
            "poll_max_s",
            "job_deadline_s",
            "sweep_interval_s",
            "sweep_stale_after_s",
            "heartbeat_interval_s",
            "webhook_tolerance_s",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{_ENV_NAMES[name]} must be greater than 0")
        if self.submit_route not in SUBMIT_ROUTES:
            raise SettingsError(f"SCENARIO_SUBMIT_ROUTE must be one of {', '.join(SUBMIT_ROUTES)}")
        if self.model_cache_s < 0:
            raise SettingsError("SCENARIO_MODEL_CACHE_S must be 0 or more")
        if self.fleet_requests_per_s < 0:
            raise SettingsError("SCENARIO_FLEET_REQUESTS_PER_S must be 0 (no budget) or more")
        check_schema_name(self.db_schema, "SCENARIO_DB_SCHEMA")
        if self.log_level.upper() not in LOG_LEVELS:
            raise SettingsError(
                f"SCENARIO_LOG_LEVEL={self.log_level!r} is not a log level; use one of {', '.join(LOG_LEVELS)}"
            )
        if not 0 <= self.metrics_port <= 65535:
            raise SettingsError(f"SCENARIO_METRICS_PORT ({self.metrics_port}) must be 0 (off) or a port up to 65535")
        check_log_format(self.log_format)
        if self.breaker_failures < 0:
            raise SettingsError("SCENARIO_BREAKER_FAILURES must be 0 (no breaker) or more")
        if not 0 < self.breaker_probe_s <= 60:
            raise SettingsError("SCENARIO_BREAKER_PROBE_S must be greater than 0 and at most 60")
        if self.poll_growth < 1:
            raise SettingsError("SCENARIO_POLL_GROWTH must be at least 1")
        self._check_slots()
        for name in (
            "max_retries",
            "max_deliveries",
            "worker_eta_task_limit",
            "worker_prefetch_multiplier",
            "sweep_from_jobs",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{_ENV_NAMES[name]} must be at least 1")

    def _check_callbacks(self) -> None:
        self.callback_secret_map  # noqa: B018 - parsed once here so a bad value stops the start
        if self.callback_secret:
            _check_secret("SCENARIO_CALLBACK_SECRET", self.callback_secret)
        if self.callback_timeout_s <= 0:
            raise SettingsError("SCENARIO_CALLBACK_TIMEOUT_S must be greater than 0")
        if self.callback_max_attempts < 1:
            raise SettingsError("SCENARIO_CALLBACK_MAX_ATTEMPTS must be at least 1")
        if not 0 < self.callback_backoff_s <= self.callback_backoff_max_s:
            raise SettingsError(
                "SCENARIO_CALLBACK_BACKOFF_S must be greater than 0 and at most SCENARIO_CALLBACK_BACKOFF_MAX_S"
            )

    @property
    def callback_secret_map(self) -> dict[str, str]:
        """SCENARIO_CALLBACK_SECRETS read: URL prefix or host -> secret."""
        if not self.callback_secrets.strip():
            return {}
        try:
            parsed = json.loads(self.callback_secrets)
        except ValueError:
            # The message never quotes the value: it holds secrets.
            raise SettingsError(
                'SCENARIO_CALLBACK_SECRETS must be a JSON object, e.g. {"https://app.example.com/hooks/": "whsec_..."}'
            ) from None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise SettingsError("SCENARIO_CALLBACK_SECRETS must be a JSON object of URL prefix or host -> secret")
        for where, secret in parsed.items():
            _check_secret(f"SCENARIO_CALLBACK_SECRETS[{where!r}]", secret)
        return parsed

    def _check_slots(self) -> None:
        if self.parallel_jobs < 0:
            raise SettingsError(f"SCENARIO_PARALLEL_JOBS ({self.parallel_jobs}) must be 0 (no cap of our own) or more")
        for name in ("slot_lease_s", "learned_cap_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{_ENV_NAMES[name]} must be greater than 0")
        if self.parallel_jobs == 0:
            return
        # A running job is looked at every poll_max_s (or sweep_stale_after_s when swept): a
        # shorter lease would hand its slot to another job while it still runs.
        gap_s = max(self.poll_max_s, self.sweep_stale_after_s)
        if not gap_s < self.slot_lease_s < self.visibility_timeout_s:
            raise SettingsError(
                f"SCENARIO_SLOT_LEASE_S ({self.slot_lease_s:g}) must be longer than the longest gap between two "
                f"looks at a running job ({gap_s:g} s from SCENARIO_POLL_MAX_S or SCENARIO_SWEEP_STALE_AFTER_S) "
                f"and shorter than SCENARIO_VISIBILITY_TIMEOUT_S ({self.visibility_timeout_s})"
            )

    def _check_countdowns(self) -> None:
        longest = max(self.retry_backoff_max_s, self.poll_max_s, self.sweep_stale_after_s)
        sources = "SCENARIO_RETRY_BACKOFF_MAX_S, SCENARIO_POLL_MAX_S or SCENARIO_SWEEP_STALE_AFTER_S"
        if self.uses_amqp:
            if longest > AMQP_COUNTDOWN_MAX_S:
                raise SettingsError(
                    f"the longest countdown ({longest:g} s from {sources}) must be at most {AMQP_COUNTDOWN_MAX_S} s "
                    "with RabbitMQ, well under its consumer_timeout (30 min by default), or RabbitMQ would close "
                    "the channel of a worker holding a waiting task"
                )
        elif longest * 2 > self.visibility_timeout_s:
            raise SettingsError(
                f"SCENARIO_VISIBILITY_TIMEOUT_S ({self.visibility_timeout_s}) must be at least twice "
                f"the longest countdown ({longest:g} s from {sources}), or the broker would hand a waiting task "
                "to a second worker"
            )

    def _check_waits(self) -> None:
        horizon = self.redelivery_horizon_s
        horizon_name = "RabbitMQ's consumer_timeout" if self.uses_amqp else "SCENARIO_VISIBILITY_TIMEOUT_S"
        if not 0 < self.auth_pause_s <= horizon:
            raise SettingsError(
                f"SCENARIO_AUTH_PAUSE_S ({self.auth_pause_s:g}) must be greater than 0 and at most "
                f"{horizon_name} ({horizon:g} s)"
            )
        if self.outage_budget_s <= 0:
            raise SettingsError("SCENARIO_OUTAGE_BUDGET_S must be greater than 0")
        if self.fleet_wait_hop_s < 0 or self.fleet_wait_hop_s > countdown_cap_s(horizon):
            raise SettingsError(
                f"SCENARIO_FLEET_WAIT_HOP_S ({self.fleet_wait_hop_s:g}) must be 0 (the default) or more, "
                f"and at most half of "
                f"{horizon_name} ({horizon:g} s)"
            )
        for name in (
            "daily_cu_budget",
            "recovery_interval_s",
            "reconcile_interval_s",
            "stalled_after_s",
            "task_soft_time_limit_s",
            "task_time_limit_s",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{_ENV_NAMES[name]} must be 0 (the default) or more")
        if self.stalled_after_s and self.stalled_after_s <= self.longest_countdown_s:
            raise SettingsError(
                f"SCENARIO_STALLED_AFTER_S ({self.stalled_after_s:g}) must be longer than the longest countdown "
                f"({self.longest_countdown_s:g} s), or a job that only waits would be sent again"
            )
        soft, hard = self.soft_time_limit_s, self.time_limit_s
        if not 0 < soft < hard < horizon:
            raise SettingsError(
                f"SCENARIO_TASK_SOFT_TIME_LIMIT_S ({soft:g}) must be shorter than SCENARIO_TASK_TIME_LIMIT_S "
                f"({hard:g}), and that shorter than {horizon_name} ({horizon:g} s)"
            )

    @property
    def request_horizon_s(self) -> float:
        """How long a submit request can take once checked: a sender's claim holds that long."""
        return waits.request_horizon_s(connect_timeout_s=self.connect_timeout_s, read_timeout_s=self.read_timeout_s)

    @property
    def answer_horizon_s(self) -> float:
        """How long after a submit left a job it made may still appear on Scenario."""
        return waits.answer_horizon_s(
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            late_submit_s=self.late_submit_s,
        )

    @property
    def redelivery_horizon_s(self) -> float:
        """How long the broker lets a worker hold a message before it hands it to another."""
        return redelivery_horizon_s(uses_amqp=self.uses_amqp, visibility_timeout_s=self.visibility_timeout_s)

    @property
    def countdown_cap_s(self) -> float:
        return countdown_cap_s(self.redelivery_horizon_s)

    @property
    def longest_countdown_s(self) -> float:
        """The longest countdown a task takes while its worker lives (a Retry-After aside)."""
        return max(self.retry_backoff_max_s, self.poll_max_s, self.sweep_stale_after_s, self.fleet_hop_s)

    @property
    def fleet_hop_s(self) -> float:
        return self.fleet_wait_hop_s or min(DEFAULT_FLEET_WAIT_HOP_S, self.countdown_cap_s)

    @property
    def stalled_after(self) -> float:
        """Seconds without a touch after which a job's message is taken for lost."""
        return self.stalled_after_s or stalled_after_s(self.longest_countdown_s)

    @property
    def time_limit_s(self) -> float:
        return self.task_time_limit_s or min(DEFAULT_TIME_LIMIT_S, self.redelivery_horizon_s * 0.9)

    @property
    def soft_time_limit_s(self) -> float:
        return self.task_soft_time_limit_s or self.time_limit_s * 0.8

    def _check_redis(self) -> None:
        if self.redis_url and not self.redis_url.startswith(_REDIS_SCHEMES):
            raise SettingsError(f"SCENARIO_REDIS_URL={self.redis_url!r} must start with redis:// or rediss://")
        if self.fleet_requests_per_s > 0 and self.fleet_redis_url is None:
            raise SettingsError(
                "SCENARIO_FLEET_REQUESTS_PER_S needs Redis to share the budget: set SCENARIO_REDIS_URL "
                "(the broker is not Redis), or set the budget to 0"
            )

    @property
    def uses_redis(self) -> bool:
        """Whether the broker is Redis."""
        return self.broker_url.startswith(_REDIS_SCHEMES)

    @property
    def uses_amqp(self) -> bool:
        """Whether the broker is RabbitMQ (AMQP)."""
        return self.broker_url.startswith(_AMQP_SCHEMES)

    @property
    def fleet_redis_url(self) -> str | None:
        """The Redis holding the fleet's shared state: SCENARIO_REDIS_URL, else a Redis broker's; None without."""
        if self.redis_url:
            return self.redis_url
        return self.broker_url if self.uses_redis else None

    @property
    def heartbeat_path(self) -> str:
        """The worker's heartbeat file: SCENARIO_HEARTBEAT_FILE, else one in the temp directory."""
        return self.heartbeat_file or os.path.join(tempfile.gettempdir(), HEARTBEAT_FILE_NAME)

    @property
    def has_credentials(self) -> bool:
        return bool(self.scenario_api_key and self.scenario_api_secret)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build the settings from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(_ENV_NAMES[f.name])
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(_ENV_NAMES[f.name], raw, type(f.default))
        values.update(overrides)
        return cls(**values)


def check_schema_name(schema: str, name: str) -> str:
    """`schema` if it is a usable schema name, else SettingsError naming `name` (a variable or an argument)."""
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise SettingsError(
            f"{name}={schema!r} is not a schema name; use lower-case letters, digits and _, "
            "not starting with a digit, at most 63 characters"
        )
    return schema


def check_log_format(value: str) -> str:
    """`value` when it names a log format; SettingsError naming SCENARIO_LOG_FORMAT otherwise."""
    if value not in LOG_FORMATS:
        raise SettingsError(f"SCENARIO_LOG_FORMAT={value!r} is not a log format; use one of {', '.join(LOG_FORMATS)}")
    return value


def _check_secret(name: str, secret: str) -> None:
    try:
        secret_key(secret)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def mask_url_password(url: str) -> str:
    """`scheme://user:secret@host` -> `scheme://user:***@host`."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user, colon, _ = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


_ENV_NAMES: dict[str, str] = {
    "scenario_api_url": "SCENARIO_API_URL",
    "scenario_api_key": "SCENARIO_API_KEY",
    "scenario_api_secret": "SCENARIO_API_SECRET",
    "broker_url": "CELERY_BROKER_URL",
    "redis_url": "SCENARIO_REDIS_URL",
    "database_url": "DATABASE_URL",
    "db_schema": "SCENARIO_DB_SCHEMA",
    "connect_timeout_s": "SCENARIO_CONNECT_TIMEOUT_S",
    "read_timeout_s": "SCENARIO_READ_TIMEOUT_S",
    "late_submit_s": "SCENARIO_LATE_SUBMIT_S",
    "retry_backoff_s": "SCENARIO_RETRY_BACKOFF_S",
    "retry_backoff_max_s": "SCENARIO_RETRY_BACKOFF_MAX_S",
    "retry_jitter": "SCENARIO_RETRY_JITTER",
    "max_retries": "SCENARIO_MAX_RETRIES",
    "outage_budget_s": "SCENARIO_OUTAGE_BUDGET_S",
    "fleet_wait_hop_s": "SCENARIO_FLEET_WAIT_HOP_S",
    "recovery_interval_s": "SCENARIO_RECOVERY_INTERVAL_S",
    "stalled_after_s": "SCENARIO_STALLED_AFTER_S",
    "task_soft_time_limit_s": "SCENARIO_TASK_SOFT_TIME_LIMIT_S",
    "task_time_limit_s": "SCENARIO_TASK_TIME_LIMIT_S",
    "poll_initial_s": "SCENARIO_POLL_INITIAL_S",
    "poll_max_s": "SCENARIO_POLL_MAX_S",
    "poll_growth": "SCENARIO_POLL_GROWTH",
    "job_deadline_s": "SCENARIO_JOB_DEADLINE_S",
    "visibility_timeout_s": "SCENARIO_VISIBILITY_TIMEOUT_S",
    "max_deliveries": "SCENARIO_MAX_DELIVERIES",
    "worker_eta_task_limit": "SCENARIO_WORKER_ETA_TASK_LIMIT",
    "worker_prefetch_multiplier": "SCENARIO_WORKER_PREFETCH_MULTIPLIER",
    "batched_polling": "SCENARIO_BATCHED_POLLING",
    "sweep_interval_s": "SCENARIO_SWEEP_INTERVAL_S",
    "sweep_stale_after_s": "SCENARIO_SWEEP_STALE_AFTER_S",
    "sweep_from_jobs": "SCENARIO_SWEEP_FROM_JOBS",
    "fleet_requests_per_s": "SCENARIO_FLEET_REQUESTS_PER_S",
    "auth_pause_s": "SCENARIO_AUTH_PAUSE_S",
    "breaker_failures": "SCENARIO_BREAKER_FAILURES",
    "breaker_probe_s": "SCENARIO_BREAKER_PROBE_S",
    "reconcile_interval_s": "SCENARIO_RECONCILE_INTERVAL_S",
    "submit_route": "SCENARIO_SUBMIT_ROUTE",
    "model_cache_s": "SCENARIO_MODEL_CACHE_S",
    "parallel_jobs": "SCENARIO_PARALLEL_JOBS",
    "slot_lease_s": "SCENARIO_SLOT_LEASE_S",
    "learned_cap_s": "SCENARIO_LEARNED_CAP_S",
    "scenario_team_id": "SCENARIO_TEAM_ID",
    "daily_cu_budget": "SCENARIO_DAILY_CU_BUDGET",
    "callback_secret": "SCENARIO_CALLBACK_SECRET",
    "callback_secrets": "SCENARIO_CALLBACK_SECRETS",
    "callback_timeout_s": "SCENARIO_CALLBACK_TIMEOUT_S",
    "callback_max_attempts": "SCENARIO_CALLBACK_MAX_ATTEMPTS",
    "callback_backoff_s": "SCENARIO_CALLBACK_BACKOFF_S",
    "callback_backoff_max_s": "SCENARIO_CALLBACK_BACKOFF_MAX_S",
    "webhook_secret": "SCENARIO_WEBHOOK_SECRET",
    "webhook_tolerance_s": "SCENARIO_WEBHOOK_TOLERANCE_S",
    "log_level": "SCENARIO_LOG_LEVEL",
    "metrics_port": "SCENARIO_METRICS_PORT",
    "log_format": "SCENARIO_LOG_FORMAT",
    "heartbeat_file": "SCENARIO_HEARTBEAT_FILE",
    "heartbeat_interval_s": "SCENARIO_HEARTBEAT_INTERVAL_S",
}

ENV_NAMES: Mapping[str, str] = _ENV_NAMES

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        expected = {bool: "true or false", int: "a whole number", float: "a number"}[kind]
        raise SettingsError(f"{name}={raw!r} is not {expected}") from None
    return raw
