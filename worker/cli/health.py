"""`scenario-worker health`: the exec probes of a deployment.

`health` checks that the database, the broker and Redis answer; `health --worker` that this
machine's worker beat recently (its heartbeat file). Both exit 0 when well and 1 when not,
and say why in a line, or in JSON with `--json`.
"""

from __future__ import annotations

import argparse
import json
import time

from worker import runtime
from worker.cli.common import positive_float
from worker.heartbeat import DEFAULT_MAX_AGE_S, judge, read_beat
from worker.settings import Settings

EXIT_WELL = 0
EXIT_UNWELL = 1


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "health", help="exit 0 when the database, broker and Redis answer (--worker: when the worker beats)"
    )
    cmd.add_argument(
        "--worker",
        action="store_true",
        help="check this machine's worker instead: its heartbeat file (SCENARIO_HEARTBEAT_FILE) is fresh",
    )
    cmd.add_argument(
        "--max-age-s",
        type=positive_float,
        default=DEFAULT_MAX_AGE_S,
        metavar="SECONDS",
        help=f"with --worker: the oldest beat still taken as alive (default {DEFAULT_MAX_AGE_S:g})",
    )
    cmd.add_argument("--json", action="store_true", help="print the answer as JSON")
    cmd.set_defaults(func=_health)


def _health(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.worker:
        return _worker(settings, args.max_age_s, as_json=args.json)
    return _system(settings, as_json=args.json)


def _worker(settings: Settings, max_age_s: float, *, as_json: bool) -> int:
    path = settings.heartbeat_path
    beat = read_beat(path)
    alive, why = judge(beat, now=time.time(), max_age_s=max_age_s)
    if as_json:
        answer = {"alive": alive, "detail": why, "heartbeat_file": path, "max_age_s": max_age_s}
        if beat is not None:
            answer.update(hostname=beat.hostname, pid=beat.pid, last_beat=beat.at)
        print(json.dumps(answer))
    else:
        print(f"worker {'alive' if alive else 'NOT ALIVE'}: {why} ({path})")
    return EXIT_WELL if alive else EXIT_UNWELL


def _system(settings: Settings, *, as_json: bool) -> int:
    from worker.probes import readiness, report

    rt = runtime.install(settings)
    try:
        probes = readiness(rt)
    finally:
        rt.close()
        runtime.forget()
    answer = report(probes)
    if as_json:
        print(json.dumps(answer))
    else:
        for probe in probes:
            print(f"{probe.name:<9} {'ok  ' if probe.ok else 'DOWN'} {probe.detail}")
    return EXIT_WELL if answer["ready"] else EXIT_UNWELL
