from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, StatementError
from sqlalchemy.pool import QueuePool

from tests.db.conftest import FLUX_PARAMS
from worker.db.models import Job
from worker.db.session import Database, DatabaseUrlError, needs_ping, watch_idle_connections


def test_a_session_commits_when_its_block_succeeds(db):
    with db.session() as session:
        session.add(Job(id="a" * 32, model_id="flux.1-dev", params=FLUX_PARAMS))

    with db.session() as session:
        assert session.get(Job, "a" * 32) is not None


def test_a_session_rolls_back_when_its_block_raises(db):
    with pytest.raises(RuntimeError):
        with db.session() as session:
            session.add(Job(id="b" * 32, model_id="flux.1-dev", params=FLUX_PARAMS))
            session.flush()
            raise RuntimeError("boom")

    with db.session() as session:
        assert session.get(Job, "b" * 32) is None


def test_a_single_statement_is_kept_whatever_comes_after_it_in_its_block(db):
    with pytest.raises(RuntimeError):
        with db.one_statement() as session:
            session.add(Job(id="c" * 32, model_id="flux.1-dev", params=FLUX_PARAMS))
            session.flush()
            raise RuntimeError("boom")

    with db.session() as session:
        # On PostgreSQL each statement was its own transaction; SQLite keeps one around the block.
        kept = session.get(Job, "c" * 32) is not None
    assert kept is (not db.is_sqlite)


def test_on_postgresql_a_single_statement_leaves_no_transaction_open_behind_it(migrated_postgres):
    for block, left_open in ((migrated_postgres.session, True), (migrated_postgres.one_statement, False)):
        with block() as session:
            session.execute(text("SELECT 1"))
            driver = session.connection().connection.dbapi_connection
            # No BEGIN went before the statement, so no COMMIT has to follow it: one round trip, not three.
            assert (driver.info.transaction_status.name == "INTRANS") is left_open


def test_sqlite_connections_wait_for_locks_use_wal_and_enforce_foreign_keys(sqlite_url):
    database = Database(sqlite_url)
    try:
        with database.engine.connect() as connection:
            pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("busy_timeout") == 30000
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
    finally:
        database.dispose()


def test_an_in_memory_sqlite_database_is_shared_by_every_session():
    database = Database("sqlite://")
    try:
        with database.session() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        with database.session() as session:
            assert session.execute(text("SELECT x FROM t")).scalar() == 1
    finally:
        database.dispose()


def test_timestamps_come_back_in_utc_whatever_zone_they_were_given_in(db):
    paris = timezone(timedelta(hours=2))
    with db.session() as session:
        session.add(
            Job(
                id="c" * 32,
                model_id="flux.1-dev",
                params=FLUX_PARAMS,
                deadline_at=datetime(2025, 6, 20, 17, 30, tzinfo=paris),
            )
        )

    with db.session() as session:
        deadline = session.get(Job, "c" * 32).deadline_at
    assert deadline == datetime(2025, 6, 20, 15, 30, tzinfo=timezone.utc)
    assert deadline.utcoffset() == timedelta(0)


def test_a_timestamp_without_a_zone_is_refused(db):
    with pytest.raises(StatementError, match="no time zone"):
        with db.session() as session:
            session.add(Job(id="d" * 32, model_id="m", params={}, deadline_at=datetime(2025, 6, 20, 15, 30)))


def test_the_database_repr_hides_the_password():
    database = Database("postgresql+psycopg://worker:s3cret@127.0.0.1:5432/jobs")
    try:
        assert "s3cret" not in repr(database)
    finally:
        database.dispose()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://::", ["'postgresql://::' is not a database URL", "postgresql+psycopg://"]),
        ("postgresql://admin:hunter2@::", ["postgresql://admin:***@::", "is not a database URL"]),
        ("nonsense", ["'nonsense' is not a database URL", "sqlite:///"]),
        ("", ["'' is not a database URL"]),
        ("redis://localhost:6379/0", ["no driver for (redis)"]),
        ("postgresql+nodriver://admin:hunter2@db/x", ["no driver for (postgresql+nodriver)", "admin:***@db"]),
    ],
)
def test_a_malformed_database_url_is_one_clear_error_with_its_password_masked(url, words):
    with pytest.raises(DatabaseUrlError) as refused:
        Database(url)

    message = str(refused.value)
    for word in words:
        assert word in message
    assert "hunter2" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("idle_since", "now", "pinged"),
    [
        (None, 100.0, True),  # never seen: a ping first
        (99.0, 100.0, False),  # given back a second ago
        (98.0, 100.0, True),  # idle for the whole window
        (90.0, 100.0, True),
    ],
)
def test_a_pooled_connection_is_pinged_only_when_idle_for_the_window(idle_since, now, pinged):
    assert needs_ping(idle_since, now, idle_after_s=2.0) is pinged


def _backend_pid_and_kill(engine, admin_url: str) -> int:
    with engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    killer = create_engine(admin_url)
    try:
        with killer.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        killer.dispose()
    return pid


def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(postgres_url):
    engine = create_engine(postgres_url, poolclass=QueuePool, pool_size=1)
    watch_idle_connections(engine, idle_after_s=0.0)
    try:
        dropped = _backend_pid_and_kill(engine, postgres_url)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != dropped
    finally:
        engine.dispose()


def test_a_connection_dropped_within_the_quiet_window_fails_once_then_the_pool_is_renewed(postgres_url):
    engine = create_engine(postgres_url, poolclass=QueuePool, pool_size=1)
    watch_idle_connections(engine, idle_after_s=3600.0)
    try:
        dropped = _backend_pid_and_kill(engine, postgres_url)
        with pytest.raises(OperationalError):
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != dropped
    finally:
        engine.dispose()
