from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text

from worker.db.migrate import check, upgrade
from worker.db.models import Base
from worker.db.placement import LEGACY_MARKERS, VERSION_TABLE, Found, Step, TableConflict, decide
from worker.db.session import Database

# Every table the models declare (the schema check holds the migrations to the same).
OURS = frozenset(Base.metadata.tables)
REVISIONS = {"0001", "0002", "0003", "0004", "0005"}


def found(own=False, here=(), legacy_version=None, legacy=(), same_place=False) -> Found:
    return Found(
        own_version=own,
        tables_here=frozenset(here),
        legacy_version=legacy_version,
        legacy_tables=frozenset(legacy),
        same_place=same_place,
    )


@pytest.mark.parametrize(
    "case, step",
    [
        (found(), Step.MIGRATE),
        (found(own=True, here=OURS), Step.MIGRATE),
        (found(own=True, here=OURS, same_place=True), Step.MIGRATE),
        # An application's own migrations and tables in the default schema, ours elsewhere.
        (found(legacy_version="a1b2c3", legacy={"jobs"}), Step.MIGRATE),
        # An application numbering its revisions as we do, without our first tables.
        (found(legacy_version="0003", legacy={"jobs"}), Step.MIGRATE),
        (found(legacy_version="0005", legacy=OURS), Step.ADOPT),
        (found(legacy_version="0001", legacy=LEGACY_MARKERS), Step.ADOPT),
        (found(legacy_version="0005", here=OURS, legacy=OURS, same_place=True), Step.ADOPT),
    ],
)
def test_what_is_done_before_migrating_follows_what_the_database_holds(case, step):
    assert decide(case, REVISIONS) is step


@pytest.mark.parametrize(
    "case, named",
    [
        (found(here={"jobs"}, same_place=True), "jobs"),
        (found(legacy_version="a1b2c3", here={"jobs", "batches"}, legacy={"jobs"}, same_place=True), "batches, jobs"),
        # Ours from before in the default schema, and something else already in the schema they would move to.
        (found(legacy_version="0005", here={"jobs"}, legacy=OURS), "jobs"),
    ],
)
def test_a_table_of_our_name_that_is_not_ours_stops_the_upgrade_naming_it(case, named):
    with pytest.raises(TableConflict, match=f"table {named} already exists"):
        decide(case, REVISIONS)


def app_database(url: str) -> None:
    """An application's own Alembic history and a `jobs` table of its own."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('a1b2c3')"))
        conn.execute(text("CREATE TABLE jobs (id INTEGER PRIMARY KEY, title VARCHAR(50))"))
        conn.execute(text("INSERT INTO jobs VALUES (7, 'plumber')"))
    engine.dispose()


def app_rows(url: str) -> tuple[list, list]:
    engine = create_engine(url)
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        jobs = conn.execute(text("SELECT * FROM jobs")).all()
    engine.dispose()
    return [tuple(r) for r in versions], [tuple(r) for r in jobs]


def test_on_postgresql_an_apps_alembic_version_and_jobs_are_left_alone_and_ours_go_to_our_schema(postgres_url):
    app_database(postgres_url)

    upgrade(postgres_url)

    assert app_rows(postgres_url) == ([("a1b2c3",)], [(7, "plumber")])
    engine = create_engine(postgres_url)
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == {"alembic_version", "jobs"}
    assert set(inspector.get_table_names(schema="scenario")) == OURS | {VERSION_TABLE}
    engine.dispose()


def test_another_schema_can_be_named(postgres_url):
    upgrade(postgres_url, schema="imaging")

    database = Database(postgres_url, schema="imaging")
    with database.session() as session:
        count = session.execute(text(f"SELECT count(*) FROM {database.table('jobs')}")).scalar_one()
    database.dispose()
    assert (database.table("jobs"), count) == ("imaging.jobs", 0)


def test_on_sqlite_an_apps_jobs_table_stops_the_upgrade_naming_it_and_nothing_changes(sqlite_url):
    app_database(sqlite_url)

    with pytest.raises(TableConflict, match="table jobs already exists"):
        upgrade(sqlite_url)

    assert app_rows(sqlite_url) == ([("a1b2c3",)], [(7, "plumber")])
    engine = create_engine(sqlite_url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version", "jobs"}
    engine.dispose()


def test_on_sqlite_an_apps_alembic_version_alone_is_left_alone(sqlite_url):
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0002')"))
    engine.dispose()

    upgrade(sqlite_url)

    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [("0002",)]
        assert set(inspect(conn).get_table_names()) == OURS | {VERSION_TABLE, "alembic_version"}
    engine.dispose()


def test_a_bad_schema_name_is_refused_naming_the_argument(sqlite_url):
    with pytest.raises(ValueError, match="schema='a; drop'"):
        upgrade(sqlite_url, schema="a; drop")


def installation_from_before(url: str) -> None:
    """Tables and a plain `alembic_version` at 0005 in the default schema, one job in them, as installed before."""
    upgrade(url, "0005", schema="public")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {VERSION_TABLE} RENAME TO alembic_version"))
        conn.execute(
            text(
                "INSERT INTO jobs (id, model_id, params, status, progress, status_history, asset_ids, attempts,"
                " deliveries, poll_seq, polls, tags, files, created_at, updated_at) VALUES ('j1', 'flux.1-dev', '{}',"
                " 'success', 1, '[]', '[]', 1, 1, 0, 0, '[]', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()


def test_an_installation_from_before_moves_its_tables_and_version_into_place_and_keeps_its_jobs(database_url):
    database = Database(database_url)
    installation_from_before(database_url)

    upgrade(database_url)
    upgrade(database_url)  # and once there, it stays

    engine = create_engine(database_url)
    inspector = inspect(engine)
    assert "alembic_version" not in inspector.get_table_names()
    assert set(inspector.get_table_names(schema=database.schema)) == OURS | {VERSION_TABLE}
    if database.schema is not None:
        assert "jobs" not in inspector.get_table_names()
    engine.dispose()
    with database.session() as session:
        assert session.execute(text(f"SELECT id FROM {database.table('jobs')}")).scalars().all() == ["j1"]
    database.dispose()
    check(database_url)  # indexes and constraints moved with their tables
