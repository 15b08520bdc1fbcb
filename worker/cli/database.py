"""`scenario-worker db ...`: the schema."""

from __future__ import annotations

import argparse
import json

from worker.cli.common import add_json
from worker.db.session import Database
from worker.settings import Settings, mask_url_password


def register(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="manage the database schema")
    sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = sub.add_parser("upgrade", help="create or update the tables (alembic upgrade head)")
    add_json(up, "the result")
    up.set_defaults(func=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    from worker.db.migrate import upgrade

    settings = Settings.from_env()
    url = settings.database_url
    # Alembic would show SQLAlchemy's parse error; this names what a database URL looks like.
    database = Database(url, schema=settings.db_schema)
    database.dispose()
    upgrade(url, schema=settings.db_schema)
    if args.json:
        print(json.dumps({"upgraded": True, "database_url": mask_url_password(url), "schema": database.schema}))
        return 0
    where = f" (schema {database.schema})" if database.schema else ""
    print(f"database is up to date: {mask_url_password(url)}{where}")
    return 0
