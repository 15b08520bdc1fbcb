"""`scenario-worker`: the project's command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from worker.cli import batch, callbacks, database, demo, dlq, health, jobs, jobs_admin
from worker.cli.common import json_error
from worker.console import cli as console_cli
from worker.settings import LOG_LEVELS, Settings, SettingsError, check_log_format

log = logging.getLogger("worker.cli")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (which argument, what is allowed) and exit 2.

    Under --json the line is a JSON error on stdout, as every other error of the command is.
    """

    # Set from the command line before it is parsed: a usage error comes before any Namespace.
    json_errors = False

    def error(self, message: str) -> NoReturn:
        if Parser.json_errors:
            print(json_error("UsageError", message, 2))
            self.exit(2)
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
    health.register(commands)
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
    Parser.json_errors = "--json" in args_list
    args = parser.parse_args(args_list)
    try:
        _set_up_logging(args.log_level)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # A person gets one line naming what to fix; the traceback is there for whoever asks for DEBUG.
        log.debug("%s failed", args.command, exc_info=True)
        from worker.cli.failures import Where, explain

        code, line = explain(exc, Where.from_env())
        if getattr(args, "json", False):
            print(json_error(type(exc).__name__, line, code))
        else:
            print(f"scenario-worker: {line}", file=sys.stderr)
        return code


def _set_up_logging(level: str) -> None:
    from worker import logs

    log_format = check_log_format(os.environ.get("SCENARIO_LOG_FORMAT") or "text")
    try:
        # The settings name the secrets to mask; a command that does not need them still logs.
        logs.configure(level, Settings.from_env())
    except SettingsError:
        logs.configure(level, log_format)


if __name__ == "__main__":
    sys.exit(main())
