from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from worker.db.migrate import SchemaDrift, check, downgrade, upgrade

REPO = Path(__file__).resolve().parents[2]
ALEMBIC = Path(sys.executable).parent / "alembic"


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_head_builds_both_tables_with_their_indexes(database_url):
    upgrade(database_url)

    engine = create_engine(database_url)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) >= {"jobs", "dead_letters"}
        job_indexes = {i["name"] for i in inspector.get_indexes("jobs")}
        assert {"ix_jobs_status_created_at", "ix_jobs_batch_id_created_at", "ix_jobs_item_key"} <= job_indexes
        assert "ix_jobs_unfinished_updated_at" in job_indexes
        uniques = {u["name"]: u["column_names"] for u in inspector.get_unique_constraints("jobs")}
        assert uniques["uq_jobs_scenario_job_id"] == ["scenario_job_id"]
        letter_indexes = {i["name"]: i for i in inspector.get_indexes("dead_letters")}
        assert letter_indexes["ix_dead_letters_job_id"]["unique"]
        (fk,) = inspector.get_foreign_keys("dead_letters")
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
        connection.execute(text("DROP INDEX ix_jobs_item_key"))
    engine.dispose()

    with pytest.raises(SchemaDrift, match="ix_jobs_item_key"):
        check(database_url)


def test_the_alembic_command_upgrades_and_downgrades_with_database_url(database_url):
    env = {**os.environ, "DATABASE_URL": database_url}

    def alembic(*args: str) -> None:
        subprocess.run([str(ALEMBIC), *args], cwd=REPO, env=env, check=True, capture_output=True, timeout=60)

    alembic("upgrade", "head")
    assert table_names(database_url) == {"jobs", "dead_letters", "batches", "batch_items"}

    alembic("downgrade", "base")
    assert table_names(database_url) == set()


def test_upgrading_twice_is_harmless(database_url):
    upgrade(database_url)
    upgrade(database_url)

    assert table_names(database_url) == {"jobs", "dead_letters", "batches", "batch_items"}


def test_migrating_without_the_migrations_folder_says_where_it_looked(tmp_path, monkeypatch, sqlite_url):
    import worker.db.migrate as migrate

    monkeypatch.setattr(migrate, "repo_root", lambda: tmp_path)

    with pytest.raises(migrate.MigrationsNotFound, match=str(tmp_path)):
        migrate.upgrade(sqlite_url)


def test_the_batches_revision_keeps_existing_jobs_and_gives_them_empty_item_fields(database_url):
    upgrade(database_url, "0001")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (id, model_id, params, status, progress, status_history, asset_ids, attempts, "
                "deliveries, poll_seq, polls, created_at, updated_at) VALUES ('j1', 'flux.1-dev', '{}', 'success', 1, "
                "'[]', '[]', 1, 1, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    upgrade(database_url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT tags, files, item_name FROM jobs WHERE id = 'j1'")).one()
    engine.dispose()
    tags, files, item_name = (json.loads(v) if isinstance(v, str) else v for v in row)
    assert (tags, files, item_name) == ([], [], None)
