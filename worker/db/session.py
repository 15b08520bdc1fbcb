"""One engine per database URL, and short transactions around it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from worker.errors import WorkerError
from worker.extras import install_hint
from worker.settings import DEFAULT_DB_SCHEMA, check_schema_name, mask_url_password

SQLITE_BUSY_TIMEOUT_MS = 30_000
URL_EXAMPLES = "sqlite:///path/to/jobs.db or postgresql+psycopg://user@host:5432/name"
# A pooled connection given back less than this long ago is handed out without a ping: a
# ping before every transaction was one more round trip per statement a job makes. One idle
# longer (a worker between bursts) is pinged, and replaced when the server dropped it.
PING_IDLE_AFTER_S = 2.0


class DatabaseUrlError(WorkerError, ValueError):
    """The database URL cannot be parsed, or names a database this program has no driver for."""


class Database:
    """An engine plus a session factory; `session()` is one transaction.

    On PostgreSQL every table of the models lives in `schema` (SCENARIO_DB_SCHEMA), so that
    the tables can share an application's database; SQLite keeps plain table names.
    """

    def __init__(self, url: str, *, schema: str = DEFAULT_DB_SCHEMA, echo: bool = False) -> None:
        self.url = parse_database_url(url)
        self.schema = table_schema(self.url, check_schema_name(schema, "schema"))
        engine = _make_engine(url, echo=echo)
        if self.schema is not None:
            # The models name no schema: the engine puts every table into ours.
            engine = engine.execution_options(schema_translate_map={None: self.schema})
        self.engine: Engine = engine
        # Rows are turned into snapshots before commit, so nothing needs reloading after it.
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite's transactions begin IMMEDIATE (see `_begin_immediate`): they keep it for single statements too.
        self._single = (
            self._sessions
            if self.is_sqlite
            else sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
        )

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def table(self, name: str) -> str:
        """A table's name as raw SQL must spell it (the schema map does not reach text())."""
        return f"{self.schema}.{name}" if self.schema is not None else name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed if the block succeeds, rolled back if it raises."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def one_statement(self) -> Iterator[Session]:
        """A session for work that is a single statement, which is a transaction of its own.

        On PostgreSQL it runs in autocommit: one round trip instead of three (BEGIN, the
        statement, COMMIT), for the writes each job makes several of. Work of two statements
        or more that must hold together takes `session()`.
        """
        with self._single() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"


def table_schema(url: URL, schema: str) -> str | None:
    """The schema holding our tables on this database: `schema` on PostgreSQL, none on SQLite
    (a file of its own, normally, whose attached databases are not schemas)."""
    return None if url.get_backend_name() == "sqlite" else schema


def parse_database_url(url: str) -> URL:
    """The parsed URL, or DatabaseUrlError saying what is wrong with it, its password masked."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        # SQLAlchemy's own words here are a bare int() complaint or "could not parse"; say what is expected.
        raise DatabaseUrlError(f"{mask_url_password(str(url))!r} is not a database URL; use {URL_EXAMPLES}") from None


def _make_engine(url: str, *, echo: bool) -> Engine:
    try:
        return _create_engine(url, echo=echo)
    except NoSuchModuleError:
        backend = parse_database_url(url).drivername
        raise DatabaseUrlError(
            f"{mask_url_password(url)!r} names a database this program has no driver for ({backend}); "
            f"use {URL_EXAMPLES}"
        ) from None
    except ImportError as exc:
        raise missing_driver(url, exc) from None


def missing_driver(url: str, exc: ImportError) -> DatabaseUrlError:
    """The database's driver is not installed: say which, and the extra that installs it if one does."""
    hint = install_hint(exc.name)
    remedy = f"install it with: {hint}" if hint else f"use {URL_EXAMPLES}"
    return DatabaseUrlError(
        f"{mask_url_password(url)!r} needs the Python module {exc.name!r}, which is not installed; {remedy}"
    )


def _create_engine(url: str, *, echo: bool) -> Engine:
    parsed = parse_database_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Workers hold connections across long idle gaps; a dropped one should be replaced, not raise.
        engine = create_engine(url, echo=echo)
        watch_idle_connections(engine)
        return engine
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if parsed.database in (None, "", ":memory:"):
        # One shared connection, or every pooled connection would see its own empty database.
        options["poolclass"] = StaticPool
    engine = create_engine(url, echo=echo, **options)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def watch_idle_connections(engine: Engine, *, idle_after_s: float = PING_IDLE_AFTER_S) -> None:
    """Ping a pooled connection before use only when it has been idle a while.

    A connection that fails its ping is replaced (the pool retries the checkout); one the
    server dropped within the quiet window fails its statement instead, which the tasks
    retry as an outage, and the pool then replaces every connection it holds.
    """

    def fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if needs_ping(record.info.get("idle_since"), time.monotonic(), idle_after_s=idle_after_s):
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception as exc:
                raise DisconnectionError(f"a pooled connection did not answer its ping: {exc}") from exc

    event.listen(engine, "connect", fresh)
    event.listen(engine, "checkin", fresh)
    event.listen(engine, "checkout", ping_if_idle)


def needs_ping(idle_since: float | None, now: float, *, idle_after_s: float) -> bool:
    """Whether a pooled connection is to be pinged before use: unknown, or idle at least `idle_after_s`."""
    return idle_since is None or now - idle_since >= idle_after_s


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 module (which skips it before SELECT) so
    # that `_begin_immediate` decides how every transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL lets readers go on while one worker writes.
        _ask_for_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _ask_for_wal(cursor: Any) -> None:
    """Put the file in WAL mode unless it is. The switch needs the file to itself and SQLite refuses
    it at once, busy_timeout or not, while another connection holds it: processes opening a new file
    together race for it. The loser waits and looks again: by then the winner has made the switch,
    which stays with the file."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _begin_immediate(connection: Any) -> None:
    # Taking the write lock up front makes a transaction wait (busy_timeout) for
    # another writer instead of failing at once with "database is locked" when a
    # read-then-write transaction tries to upgrade its lock.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
