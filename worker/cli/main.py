"""`scenario-worker`: the project's command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from worker.cli import batch, database, demo, dlq, jobs, jobs_admin
from worker.console import cli as console_cli
from worker.settings import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scenario-worker",
        description="Run Scenario image generations through Celery workers.",
    )
    parser.add_argument("--log-level", default="WARNING", help="log level for this command (default WARNING)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    jobs.register(commands)
    jobs_admin.register(commands)
    dlq.register(commands)
    database.register(commands)
    batch.register(commands)
    demo.register(commands)
    console_cli.register(commands)
    commands.add_parser(
        "simulator",
        help="run the Scenario API simulator (see 'scenario-worker simulator --help')",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # The simulator owns its flags; hand them over untouched.
    if args_list and args_list[0] == "simulator":
        from worker.simulator.cli import main as simulator_main

        return simulator_main(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"scenario-worker: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
