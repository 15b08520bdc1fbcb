"""What the command line says when a command fails: one line naming what to fix, never a traceback.

`explain` is a pure mapping from an exception's class to an exit code and a line;
the variable or flag to change is named, and every URL's password and every
configured secret is masked before the line is shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import redis.exceptions
import sqlalchemy.exc
from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError

from worker.cli.broker import BrokerUnavailable
from worker.db.migrate import MigrationError
from worker.db.session import DatabaseUrlError
from worker.errors import DatabaseError, WorkerError
from worker.fleet.errors import FleetUnavailable
from worker.logs import mask
from worker.scenario.errors import Forbidden, NetworkError, ScenarioError, Unauthorized
from worker.settings import Settings, SettingsError, mask_url_password

# What the user typed or set is wrong: the shell convention for bad usage.
EXIT_USAGE = 2
# Something the command needs did not answer or refused.
EXIT_FAILED = 1

# Shorter configured values are too likely to occur in ordinary words to be masked blindly.
_SECRET_MIN_CHARS = 4


@dataclass(frozen=True)
class Where:
    """The configured addresses to name in a message (passwords masked) and the secrets never to show."""

    database_url: str = "?"
    broker_url: str = "?"
    api_url: str = "?"
    secrets: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> Where:
        """Read when a command has failed, never at import; a broken setting still yields the raw values."""
        try:
            s = Settings.from_env()
            raw = (s.database_url, s.broker_url, s.scenario_api_url, s.scenario_api_secret)
        except SettingsError:
            env = os.environ
            raw = tuple(
                env.get(name, "?")
                for name in ("DATABASE_URL", "CELERY_BROKER_URL", "SCENARIO_API_URL", "SCENARIO_API_SECRET")
            )
        database_url, broker_url, api_url, secret = raw
        return cls(
            database_url=mask_url_password(database_url),
            broker_url=mask_url_password(broker_url),
            api_url=mask_url_password(api_url),
            secrets=(secret,) if len(secret) >= _SECRET_MIN_CHARS else (),
        )


def explain(exc: BaseException, where: Where) -> tuple[int, str]:
    """The exit code and the one line to print for a command that raised `exc`."""
    code, line = _describe(exc, where)
    return code, scrub(line, where.secrets)


def scrub(line: str, secrets: tuple[str, ...] = ()) -> str:
    """One line, with every URL's password and every given secret replaced by ***."""
    return mask(" ".join(line.split()), secrets)


def _describe(exc: BaseException, where: Where) -> tuple[int, str]:
    db, broker, api = where.database_url, where.broker_url, where.api_url
    # The fleet's Redis may fail under a Scenario call (the request budget is read first).
    fleet = next((e for e in _chain(exc) if isinstance(e, FleetUnavailable)), None)
    if isinstance(exc, SettingsError):
        return EXIT_USAGE, f"configuration error: {exc}"
    if isinstance(exc, DatabaseUrlError):
        return EXIT_USAGE, f"DATABASE_URL: {exc}"
    if isinstance(exc, BrokerUnavailable):
        return EXIT_FAILED, (
            f"the broker at CELERY_BROKER_URL={broker} did not answer ({exc.reason}); nothing was queued"
        )
    if fleet is not None:
        detail = _first_line(fleet)
        return EXIT_FAILED, f"the fleet's shared state at CELERY_BROKER_URL={broker} cannot be read: {detail}"
    if isinstance(exc, (Unauthorized, Forbidden)):
        return EXIT_FAILED, f"Scenario refused the credentials ({exc}); check SCENARIO_API_KEY and SCENARIO_API_SECRET"
    if isinstance(exc, NetworkError):
        return EXIT_FAILED, f"Scenario did not answer at SCENARIO_API_URL={api}: {exc.message}"
    if isinstance(exc, ScenarioError):
        return EXIT_FAILED, f"Scenario answered {exc}"
    if isinstance(exc, sqlalchemy.exc.ArgumentError):
        return EXIT_USAGE, f"DATABASE_URL: {db} cannot be used: {_first_line(exc)}"
    if isinstance(exc, sqlalchemy.exc.ProgrammingError):
        return EXIT_FAILED, (
            f"the database at DATABASE_URL={db} refused a query: {_driver_line(exc)} "
            "(if its tables are missing or old, run: scenario-worker db upgrade)"
        )
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return EXIT_FAILED, f"the database at DATABASE_URL={db} cannot be used: {_driver_line(exc)}"
    if isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
        return EXIT_FAILED, f"database error at DATABASE_URL={db}: {_first_line(exc)}"
    if isinstance(exc, (KombuError, AMQPError, redis.exceptions.RedisError)):
        return EXIT_FAILED, f"the broker at CELERY_BROKER_URL={broker} did not answer: {_first_line(exc)}"
    if isinstance(exc, DatabaseError):
        return EXIT_FAILED, f"the database at DATABASE_URL={db} cannot be used: {exc.reason}"
    if isinstance(exc, (MigrationError, WorkerError)):
        return EXIT_FAILED, _first_line(exc)
    if isinstance(exc, ValueError):
        # The project's convention: a ValueError names the field and what is allowed.
        return EXIT_USAGE, _first_line(exc)
    if isinstance(exc, OSError):
        place = f": {exc.filename}" if exc.filename else ""
        return EXIT_FAILED, f"{exc.strerror or _first_line(exc)}{place}"
    return EXIT_FAILED, f"unexpected {type(exc).__name__}: {_first_line(exc)} (--log-level DEBUG shows where)"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _driver_line(exc: sqlalchemy.exc.DBAPIError) -> str:
    """The database driver's own first line, without SQLAlchemy's statement and background link."""
    return _first_line(exc.orig) if exc.orig is not None else _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
