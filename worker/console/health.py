"""Is the system well: the database and broker answer, which workers answer Celery's ping, the fleet's pauses."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text

from worker.runtime import Runtime
from worker.settings import mask_url_password

# Celery's ping waits this long for workers to answer; the page waits as long.
INSPECT_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Health:
    checks: list[Check]
    workers: list[str] = field(default_factory=list)
    auth_pause: str | None = None
    rate_pause_s: float | None = None
    budget_per_s: float = 0.0
    scenario_down: bool = False
    reconciled: str | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def database_check(rt: Runtime) -> Check:
    where = rt.database.url.render_as_string(hide_password=True)
    try:
        with rt.database.session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not reachable"; its text is the detail
        return Check("database", False, f"{where}: {type(exc).__name__}: {exc}")
    return Check("database", True, where)


def broker_check(rt: Runtime) -> Check:
    where = mask_url_password(rt.settings.broker_url)
    if rt.redis is None:
        return Check("broker", True, f"{where} (not Redis: not pinged)")
    try:
        rt.redis.ping()
    except Exception as exc:
        return Check("broker", False, f"{where}: {type(exc).__name__}: {exc}")
    return Check("broker", True, where)


def workers_seen() -> list[str]:
    """Names of the workers that answer Celery's ping within INSPECT_TIMEOUT_S."""
    from worker.celery_app import app

    answers = app.control.inspect(timeout=INSPECT_TIMEOUT_S).ping() or {}
    return sorted(answers)


def health(rt: Runtime) -> Health:
    checks = [database_check(rt), broker_check(rt)]
    workers: list[str] = []
    if checks[1].ok:
        try:
            workers = workers_seen()
        except Exception as exc:
            checks.append(Check("workers", False, f"Celery's inspect failed: {type(exc).__name__}: {exc}"))
    if not any(c.name == "workers" for c in checks):
        checks.append(Check("workers", bool(workers), f"{len(workers)} answered" if workers else "none answered"))
    auth_pause = rate_pause_s = reconciled = None
    scenario_down = False
    try:
        if rt.auth_pause is not None and (pause := rt.auth_pause.current()) is not None:
            auth_pause = f"HTTP {pause.status} {pause.code or ''}: {pause.message} ({pause.remaining_s:.0f} s left)"
        if rt.limiter is not None:
            rate_pause_s = rt.limiter.paused_for()
        scenario_down = rt.breaker is not None and rt.breaker.is_open()
        reconciled = rt.coordination.noted("reconcile") if rt.coordination is not None else None
    except Exception as exc:
        checks.append(Check("fleet state", False, f"{type(exc).__name__}: {exc}"))
    return Health(
        checks, workers, auth_pause, rate_pause_s, rt.settings.fleet_requests_per_s, scenario_down, reconciled
    )
