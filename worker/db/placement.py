"""Where our tables live in a database that may be an application's, and how an older layout moves there.

On PostgreSQL the tables live in a schema of their own (SCENARIO_DB_SCHEMA); on SQLite they keep
plain names. Either way Alembic keeps our revision in `scenario_alembic_version`, so that an
application's own `alembic_version` is never read nor written. Installations from before kept
both the tables and `alembic_version` in the default schema: they are moved, not created again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Column, Connection, MetaData, PrimaryKeyConstraint, String, Table, inspect, text

from worker.db.migrate import MigrationError

VERSION_TABLE = "scenario_alembic_version"
LEGACY_VERSION_TABLE = "alembic_version"
# The tables the first revision made: an `alembic_version` naming one of our revisions is ours
# only when these stand beside it, since an application may number its own revisions alike.
LEGACY_MARKERS = frozenset({"jobs", "dead_letters"})


class TableConflict(MigrationError):
    """A table of ours is already there, and not ours: upgrading would write into it."""


class Step(StrEnum):
    MIGRATE = "migrate"  # ours already, or nothing there yet: Alembic goes on from its version
    ADOPT = "adopt"  # an installation from before: its tables and version move into place first


@dataclass(frozen=True)
class Found:
    """What a database holds, looked at before a migration."""

    # Our version table is where it belongs.
    own_version: bool
    # Tables with our tables' names where ours belong.
    tables_here: frozenset[str]
    # The revision in a plain `alembic_version` of the default schema, if there is one.
    legacy_version: str | None
    # Tables with our tables' names in the default schema.
    legacy_tables: frozenset[str]
    # Ours belong in the default schema (SQLite): the two places above are one.
    same_place: bool
    # The default schema's name ("public", SQLite's "main").
    default_schema: str | None = None


def decide(found: Found, known_revisions: Collection[str]) -> Step:
    """What to do before Alembic runs, or TableConflict naming the table in the way."""
    if found.own_version:
        return Step.MIGRATE
    is_ours = found.legacy_version in known_revisions and LEGACY_MARKERS <= found.legacy_tables
    if is_ours and (found.same_place or not found.tables_here):
        return Step.ADOPT
    if found.tables_here:
        names = ", ".join(sorted(found.tables_here))
        raise TableConflict(
            f"table {names} already exists and is not scenario-worker's (no {VERSION_TABLE} beside it): "
            "use a database of its own" + ("" if found.same_place else ", or another schema with SCENARIO_DB_SCHEMA")
        )
    return Step.MIGRATE


def look(connection: Connection, schema: str | None, table_names: Iterable[str]) -> Found:
    inspector = inspect(connection)
    names = frozenset(table_names)
    default = inspector.default_schema_name
    same_place = schema is None or schema == default
    here = set(inspector.get_table_names(schema=schema))
    legacy = here if same_place else set(inspector.get_table_names())
    legacy_version = None
    if LEGACY_VERSION_TABLE in legacy:
        legacy_table = _qualified(connection, default, LEGACY_VERSION_TABLE)
        versions = connection.execute(text(f"SELECT version_num FROM {legacy_table}")).scalars().all()
        # Alembic keeps one row per head; ours has one.
        legacy_version = versions[0] if len(versions) == 1 else None
    return Found(
        own_version=VERSION_TABLE in here,
        tables_here=frozenset(names & here),
        legacy_version=legacy_version,
        legacy_tables=frozenset(names & legacy),
        same_place=same_place,
        default_schema=default,
    )


def prepare(
    connection: Connection, schema: str | None, table_names: Iterable[str], known_revisions: Collection[str]
) -> Step:
    """Make the place for our tables ready for Alembic: the schema made (it must exist before
    Alembic looks for its version table there), an older layout moved in.

    Runs in its own transaction, committed before the migration: a migration that fails then
    leaves the tables moved with their version, a state the next upgrade starts from.
    """
    with connection.begin():
        if schema is not None:
            quoted = connection.dialect.identifier_preparer.quote_schema(schema)
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
        found = look(connection, schema, table_names)
        step = decide(found, known_revisions)
        if step is Step.ADOPT:
            _adopt(connection, schema, found)
    return step


def version_table(schema: str | None) -> Table:
    """Our version table as Alembic makes it, so that Alembic reads the one made here."""
    return Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
        schema=schema,
    )


def _adopt(connection: Connection, schema: str | None, found: Found) -> None:
    if not found.same_place:
        target = connection.dialect.identifier_preparer.quote_schema(schema)
        for name in sorted(found.legacy_tables):
            # Indexes, constraints and owned sequences move with their table.
            connection.execute(
                text(f"ALTER TABLE {_qualified(connection, found.default_schema, name)} SET SCHEMA {target}")
            )
    table = version_table(None if found.same_place else schema)
    table.create(connection)
    connection.execute(table.insert().values(version_num=found.legacy_version))
    connection.execute(text(f"DROP TABLE {_qualified(connection, found.default_schema, LEGACY_VERSION_TABLE)}"))


def _qualified(connection: Connection, schema: str | None, name: str) -> str:
    quote = connection.dialect.identifier_preparer
    return f"{quote.quote_schema(schema)}.{quote.quote(name)}" if schema else quote.quote(name)
