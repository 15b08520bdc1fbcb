from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from worker.db.migrate import SchemaDrift, check, downgrade, upgrade
from worker.db.models import Base
from worker.db.placement import VERSION_TABLE
from worker.db.session import table_schema
from worker.settings import DEFAULT_DB_SCHEMA

REPO = Path(__file__).resolve().parents[2]
ALEMBIC = Path(sys.executable).parent / "alembic"

# Every table the models declare (the schema check holds the migrations to the same).
OUR_TABLES = set(Base.metadata.tables)


def schema_of(url: str) -> str | None:
    """Where our tables are: the default schema on PostgreSQL, plain names on SQLite."""
    return table_schema(make_url(url), DEFAULT_DB_SCHEMA)


def table(url: str, name: str) -> str:
    schema = schema_of(url)
    return f"{schema}.{name}" if schema else name


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names(schema=schema_of(url))) - {VERSION_TABLE}
    finally:
        engine.dispose()


def test_upgrade_head_builds_both_tables_with_their_indexes(database_url):
    upgrade(database_url)

    engine = create_engine(database_url)
    try:
        inspector, schema = inspect(engine), schema_of(database_url)
        assert set(inspector.get_table_names(schema=schema)) >= {"jobs", "dead_letters"}
        job_indexes = {i["name"] for i in inspector.get_indexes("jobs", schema=schema)}
        assert {"ix_jobs_status_created_at", "ix_jobs_batch_id_created_at", "ix_jobs_item_key"} <= job_indexes
        assert {"ix_jobs_unfinished_updated_at", "ix_jobs_in_flight_updated_at"} <= job_indexes
        uniques = {u["name"]: u["column_names"] for u in inspector.get_unique_constraints("jobs", schema=schema)}
        assert uniques["uq_jobs_scenario_job_id"] == ["scenario_job_id"]
        letter_indexes = {i["name"]: i for i in inspector.get_indexes("dead_letters", schema=schema)}
        assert letter_indexes["ix_dead_letters_job_id"]["unique"]
        (fk,) = inspector.get_foreign_keys("dead_letters", schema=schema)
        assert (fk["referred_table"], fk["constrained_columns"]) == ("jobs", ["job_id"])
    finally:
        engine.dispose()


def test_downgrade_base_removes_both_tables(database_url):
    upgrade(database_url)
    downgrade(database_url)

    assert table_names(database_url) == set()


def test_the_models_and_the_migrations_agree(database_url):
    upgrade(database_url)

    check(database_url)  # raises SchemaDrift otherwise


def test_a_schema_that_differs_from_the_models_is_reported_as_drift(database_url):
    upgrade(database_url)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP INDEX {table(database_url, 'ix_jobs_item_key')}"))
    engine.dispose()

    with pytest.raises(SchemaDrift, match="ix_jobs_item_key"):
        check(database_url)


def test_the_alembic_command_upgrades_and_downgrades_with_database_url(database_url):
    env = {**os.environ, "DATABASE_URL": database_url}

    def alembic(*args: str) -> None:
        subprocess.run([str(ALEMBIC), *args], cwd=REPO, env=env, check=True, capture_output=True, timeout=60)

    alembic("upgrade", "head")
    assert table_names(database_url) == OUR_TABLES

    alembic("downgrade", "base")
    assert table_names(database_url) == set()


def test_upgrading_twice_is_harmless(database_url):
    upgrade(database_url)
    upgrade(database_url)

    assert table_names(database_url) == OUR_TABLES


def test_migrating_without_the_migrations_folder_says_where_it_looked(tmp_path, monkeypatch, sqlite_url):
    import worker.db.migrate as migrate

    monkeypatch.setattr(migrate, "migration_folders", lambda: (tmp_path / "a", tmp_path / "b"))

    with pytest.raises(migrate.MigrationsNotFound, match=f"{tmp_path / 'a'} nor in {tmp_path / 'b'}"):
        migrate.upgrade(sqlite_url)


def test_the_batches_revision_keeps_existing_jobs_and_gives_them_empty_item_fields(database_url):
    upgrade(database_url, "0001")
    jobs = table(database_url, "jobs")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO {jobs} (id, model_id, params, status, progress, status_history, asset_ids, attempts, "
                "deliveries, poll_seq, polls, created_at, updated_at) VALUES ('j1', 'flux.1-dev', '{}', 'success', 1, "
                "'[]', '[]', 1, 1, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    upgrade(database_url)
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT tags, files, item_name FROM {jobs} WHERE id = 'j1'")).one()
    engine.dispose()
    tags, files, item_name = (json.loads(v) if isinstance(v, str) else v for v in row)
    assert (tags, files, item_name) == ([], [], None)
