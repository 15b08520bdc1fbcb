"""Is this system ready: the database, the broker and Redis each answer.

What the console's `/readyz` and `scenario-worker health` report. Each check is short
(a `SELECT 1`, a broker connection, a `PING`), gets its answer within about
PROBE_TIMEOUT_S, and says where it looked with every password masked.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import text

from worker.logs import mask
from worker.runtime import Runtime
from worker.settings import Settings, mask_url_password

# A probe that takes longer than this counts as not answering (Kubernetes waits 1 s by default per probe try).
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    detail: str


def report(probes: list[Probe]) -> dict[str, object]:
    """The JSON answer of a readiness check: ready only when every probe is."""
    return {"ready": all(p.ok for p in probes), "checks": [asdict(p) for p in probes]}


def readiness(rt: Runtime) -> list[Probe]:
    return [database_probe(rt), broker_probe(rt), redis_probe(rt)]


def database_probe(rt: Runtime) -> Probe:
    def check() -> None:
        with rt.database.session() as session:
            session.execute(text("SELECT 1"))

    return _probe("database", rt.database.url.render_as_string(hide_password=True), check)


def broker_probe(rt: Runtime) -> Probe:
    from kombu import Connection

    url, options = rt.settings.broker_url, _transport_options(rt.settings)

    def check() -> None:
        with Connection(url, connect_timeout=PROBE_TIMEOUT_S, transport_options=options) as conn:
            conn.ensure_connection(max_retries=1, timeout=PROBE_TIMEOUT_S)

    return _probe("broker", mask_url_password(url), check)


def redis_probe(rt: Runtime) -> Probe:
    url = rt.settings.fleet_redis_url
    if url is None:
        return Probe("redis", True, "none configured (SCENARIO_REDIS_URL is empty and the broker is not Redis)")

    def check() -> None:
        # A client of its own, without the shared one's retries: one PING, answered or not.
        client = redis.Redis.from_url(
            url, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S, retry=Retry(NoBackoff(), 0)
        )
        try:
            client.ping()
        finally:
            client.close()

    return _probe("redis", mask_url_password(url), check)


def _transport_options(settings: Settings) -> dict[str, object]:
    # The embedded broker needs its folders to connect at all; the others need nothing more.
    if settings.broker_url.startswith("filesystem://"):
        from worker.celery_app import celery_config

        return dict(celery_config(settings)["broker_transport_options"])
    return {}


def _probe(name: str, where: str, check: Callable[[], object]) -> Probe:
    # In a thread, so that a server that accepts and then says nothing (or a dropped packet
    # on connect) still gets its answer within PROBE_TIMEOUT_S; the stuck call ends on its own.
    future = _checks.submit(check)
    try:
        future.result(timeout=PROBE_TIMEOUT_S + 1)
    except FutureTimeout:
        return Probe(name, False, f"{where}: no answer within {PROBE_TIMEOUT_S + 1:g} s")
    except Exception as exc:  # any failure means "not answering"; its text (masked) is the detail
        return Probe(name, False, mask(" ".join(f"{where}: {type(exc).__name__}: {exc}".split())))
    return Probe(name, True, where)


_checks = ThreadPoolExecutor(max_workers=6, thread_name_prefix="probe")
