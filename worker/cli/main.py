"""`scenario-worker`: the project's command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from worker.cli import batch, callbacks, database, demo, dlq, jobs, jobs_admin
from worker.console import cli as console_cli
from worker.settings import LOG_LEVELS

log = logging.getLogger("worker.cli")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (which argument, what is allowed) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def log_level(text: str) -> str:
    """argparse type: one of the logging levels, in any case."""
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
    return level


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="scenario-worker",
        description="Run Scenario image generations through Celery workers.",
    )
    parser.add_argument(
        "--log-level",
        type=log_level,
        default="WARNING",
        metavar="LEVEL",
        help="log level for this command: " + ", ".join(LOG_LEVELS) + " (default WARNING)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    jobs.register(commands)
    jobs_admin.register(commands)
    dlq.register(commands)
    callbacks.register(commands)
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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scenario-worker")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # The simulator owns its flags; hand them over untouched.
    if args_list and args_list[0] == "simulator":
        from worker.simulator.cli import main as simulator_main

        return simulator_main(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # A person gets one line naming what to fix; the traceback is there for whoever asks for DEBUG.
        log.debug("%s failed", args.command, exc_info=True)
        from worker.cli.failures import Where, explain

        code, line = explain(exc, Where.from_env())
        print(f"scenario-worker: {line}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
