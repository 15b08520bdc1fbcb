"""`scenario-worker console`: serve the web console over the configured database and broker."""

from __future__ import annotations

import argparse
import sys

from worker import runtime
from worker.cli.common import positive_int
from worker.extras import require
from worker.settings import Settings

DEFAULT_PORT = 8080


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("console", help="serve the web console (batches, jobs, dead letters, health)")
    cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    cmd.add_argument("--port", type=positive_int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    cmd.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    require("flask", "the console")
    from werkzeug.serving import make_server

    from worker.console.app import create_app
    from worker.console.settings import ConsoleSettings

    console = ConsoleSettings.from_env(args.host)
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
