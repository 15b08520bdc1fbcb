"""`scenario-worker console`: serve the web console over the configured database and broker."""

from __future__ import annotations

import argparse
import sys

from worker import runtime
from worker.cli.common import positive_int
from worker.console.settings import DEFAULT_SERVER_WORKERS, ConsoleSettings
from worker.extras import require
from worker.settings import Settings

DEFAULT_PORT = 8080


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("console", help="serve the web console (batches, jobs, dead letters, health)")
    cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    cmd.add_argument("--port", type=positive_int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    cmd.add_argument(
        "--workers",
        type=positive_int,
        default=DEFAULT_SERVER_WORKERS,
        help=f"gunicorn worker processes (default {DEFAULT_SERVER_WORKERS}; development mode serves from one)",
    )
    cmd.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    require("flask", "the console")
    # Checked before anything starts, so a missing login stops the start in one line.
    console = ConsoleSettings.from_env(args.host)
    if not console.dev_mode:
        require("gunicorn", "the console")
        from worker.console.server import serve

        serve(args.host, args.port, args.workers)
        return 0
    return _serve_for_development(args, console)


def _serve_for_development(args: argparse.Namespace, console: ConsoleSettings) -> int:
    """werkzeug's server, one process: CONSOLE_DEV_MODE=true only."""
    from werkzeug.serving import make_server

    from worker.console.app import create_app

    runtime.install(Settings.from_env())
    if console.made_up_login and console.admin is not None:
        print(f"development mode: sign in as dev / {console.admin.password}", file=sys.stderr)
    server = make_server(args.host, args.port, create_app(console), threaded=True)
    print(f"console on http://{args.host}:{server.server_port}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        runtime.current().close()
    return 0
