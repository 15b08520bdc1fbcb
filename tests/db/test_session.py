from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from tests.db.conftest import FLUX_PARAMS
from worker.db.models import Job
from worker.db.session import Database, DatabaseUrlError


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
