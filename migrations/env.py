"""Alembic environment: the models' metadata against the configured database."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.engine import make_url

from worker.db.models import Base, UTCDateTime
from worker.db.placement import VERSION_TABLE, prepare
from worker.db.session import missing_driver, table_schema

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    # worker.db.migrate and the tests set the URL; the alembic command takes DATABASE_URL.
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from worker.settings import Settings

    return Settings.from_env().database_url


def db_schema() -> str:
    # worker.db.migrate passes the schema; the alembic command takes SCENARIO_DB_SCHEMA.
    schema = config.attributes.get("db_schema")
    if schema:
        return schema
    from worker.settings import Settings

    return Settings.from_env().db_schema


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # New revisions spell the column type plainly instead of importing the model module.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # The database may be an application's: autogenerate compares only the tables the models declare.
    return type_ != "table" or name in target_metadata.tables


def configure(schema: str | None, **options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=render_item,
        include_name=include_name,
        # Our own version table, so that an application's alembic_version beside ours is left alone.
        version_table=VERSION_TABLE,
        version_table_schema=schema,
        **options,
    )


def in_schema(connection: Connection, schema: str | None) -> Connection:
    """The connection with every table of the revisions (written with plain names) in `schema`."""
    if schema is None:
        return connection
    # The map places what revisions build from tables; the search path places what they write as
    # raw SQL, and is where autogenerate's reflection looks for the tables it compares.
    connection.exec_driver_sql(f"SET search_path TO {connection.dialect.identifier_preparer.quote_schema(schema)}")
    connection.commit()
    return connection.execution_options(schema_translate_map={None: schema})


def run_offline() -> None:
    url = database_url()
    schema = table_schema(make_url(url), db_schema())
    configure(schema, url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        if schema is not None:
            # The script runs on a database this process never sees: the search path places the tables.
            context.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            context.execute(f"SET search_path TO {schema}")
        context.run_migrations()


def run_online() -> None:
    url = database_url()
    schema = table_schema(make_url(url), db_schema())
    try:
        engine = create_engine(url, poolclass=pool.NullPool)
    except ImportError as exc:
        raise missing_driver(url, exc) from None
    try:
        with engine.connect() as connection:
            revisions = {script.revision for script in context.script.walk_revisions()}
            prepare(connection, schema, target_metadata.tables, revisions)
            connection = in_schema(connection, schema)
            # SQLite cannot ALTER most things; batch mode copies the table instead.
            configure(schema, connection=connection, render_as_batch=connection.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run_online()
