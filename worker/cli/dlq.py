"""`scenario-worker dlq list | show | replay | purge`: the dead-letter table by hand."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from worker.cli.broker import require_broker
from worker.cli.common import add_json, fail, positive_int, shorten, table, when, when_arg
from worker.cli.jobs import job_as_dict
from worker.db.models import DeadLetterReason
from worker.db.views import DeadLetterView
from worker.deadletters import (
    DeadLetterDetail,
    DeadLetterNotFound,
    list_dead_letters,
    purge,
    replay,
    replay_matching,
    show_dead_letter,
)


def _http_status_arg(text: str) -> int:
    if not text.isdigit() or not 100 <= int(text) <= 599:
        raise argparse.ArgumentTypeError(f"{text!r} is not an HTTP status (100..599)")
    return int(text)


def register(commands: argparse._SubParsersAction) -> None:
    dlq = commands.add_parser("dlq", help="list, show, replay and purge dead letters")
    sub = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)

    list_cmd = sub.add_parser("list", help="the newest dead letters, with filters")
    list_cmd.add_argument(
        "--since", type=when_arg, metavar="DATE|DURATION", help="written since then (2025-01-31, 7d, 12h)"
    )
    list_cmd.add_argument("--code", help="only this error code, e.g. INVALID_PARAMETER")
    list_cmd.add_argument(
        "--status",
        dest="http_status",
        type=_http_status_arg,
        metavar="HTTP_STATUS",
        help="only this HTTP status, e.g. 400",
    )
    reasons = [r.value for r in DeadLetterReason]
    list_cmd.add_argument("--reason", choices=reasons, metavar="REASON", help="only this reason: " + ", ".join(reasons))
    replayed = list_cmd.add_mutually_exclusive_group()
    replayed.add_argument("--replayed", dest="replayed", action="store_const", const=True, help="only replayed ones")
    replayed.add_argument(
        "--not-replayed", dest="replayed", action="store_const", const=False, help="only ones not replayed yet"
    )
    list_cmd.add_argument("--limit", type=positive_int, default=50, metavar="N", help="at most N letters (default 50)")
    list_cmd.add_argument("--json", action="store_true", help="print the letters as JSON")
    list_cmd.set_defaults(func=_list)

    show_cmd = sub.add_parser("show", help="one dead letter with its job")
    show_cmd.add_argument("dead_letter_id", metavar="ID", type=int)
    show_cmd.add_argument("--json", action="store_true", help="print it as JSON")
    show_cmd.set_defaults(func=_show)

    replay_cmd = sub.add_parser("replay", help="enqueue dead-lettered generations again")
    target = replay_cmd.add_mutually_exclusive_group(required=True)
    target.add_argument("dead_letter_id", metavar="ID", type=int, nargs="?", help="one letter")
    target.add_argument("--code", help="every letter not replayed yet with this error code")
    target.add_argument("--all", action="store_true", help="every letter not replayed yet")
    replay_cmd.add_argument("--dry-run", action="store_true", help="say what would be replayed; change nothing")
    add_json(replay_cmd, "what was replayed")
    replay_cmd.set_defaults(func=_replay)

    purge_cmd = sub.add_parser("purge", help="delete old dead letters")
    purge_cmd.add_argument(
        "--before",
        type=when_arg,
        required=True,
        metavar="DATE|DURATION",
        help="delete letters written before then (2025-01-31, or 30d for older than 30 days)",
    )
    purge_cmd.add_argument("--dry-run", action="store_true", help="count them; delete nothing")
    add_json(purge_cmd, "the count")
    purge_cmd.set_defaults(func=_purge)


def _list(args: argparse.Namespace) -> int:
    letters = list_dead_letters(
        since=args.since,
        code=args.code,
        http_status=args.http_status,
        reason=args.reason,
        replayed=args.replayed,
        limit=args.limit,
    )
    if args.json:
        print(json.dumps([letter_as_dict(letter) for letter in letters], indent=2))
        return 0
    if not letters:
        print("no dead letters match")
        return 0
    rows = [
        [
            str(d.id),
            when(d.created_at),
            d.reason.value,
            str(d.http_status or "-"),
            d.error_code or "-",
            d.job_id,
            "yes" if d.replayed_job_id else "-",
            shorten(d.error_message, 60),
        ]
        for d in letters
    ]
    print(table(["ID", "WHEN (UTC)", "REASON", "HTTP", "CODE", "JOB", "REPLAYED", "MESSAGE"], rows))
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        detail = show_dead_letter(args.dead_letter_id)
    except DeadLetterNotFound:
        return _no_such_letter(args, args.dead_letter_id)
    if args.json:
        print(
            json.dumps(
                {
                    "dead_letter": letter_as_dict(detail.letter),
                    "job": job_as_dict(detail.job) if detail.job else None,
                    "replayed_job": job_as_dict(detail.replayed_job) if detail.replayed_job else None,
                },
                indent=2,
            )
        )
        return 0
    d, job = detail.letter, detail.job
    error = " ".join(str(part) for part in (d.http_status, d.error_code) if part is not None)
    print(f"dead letter {d.id}  {d.reason.value}  written {when(d.created_at)} UTC")
    print(f"  job:          {d.job_id}  ({job.status.value if job else 'no longer stored'})")
    print(f"  scenario job: {d.scenario_job_id or '-'}")
    print(f"  task:         {d.task_name}")
    print(f"  attempts:     {d.attempts}")
    print(f"  error:        {error + ': ' if error else ''}{d.error_message}")
    if job and job.last_error and job.last_error.get("message") != d.error_message:
        print(f"  job's last error: {job.last_error.get('message')}")
    print(f"  replayed:     {_replayed_line(detail)}")
    print("  payload:")
    for line in json.dumps(d.payload, indent=2, sort_keys=True).splitlines():
        print(f"    {line}")
    history = job.status_history if job else d.status_history
    print("  status history:" if history else "  status history: (none: Scenario never had the job)")
    for step in history:
        print(f"    {step.get('date', '?')}  {step.get('status', '?')}")
    return 0


def _replayed_line(detail: DeadLetterDetail) -> str:
    d = detail.letter
    if d.replayed_job_id is None:
        return "no"
    job = detail.replayed_job
    state = job.status.value if job else "not recorded yet"
    return f"at {when(d.replayed_at)} UTC as job {d.replayed_job_id} ({state})"


def _replay(args: argparse.Namespace) -> int:
    if not args.dry_run:
        require_broker()
    if args.dead_letter_id is not None:
        try:
            results = [replay(args.dead_letter_id, dry_run=args.dry_run)]
        except DeadLetterNotFound:
            return _no_such_letter(args, args.dead_letter_id)
    else:
        results = replay_matching(code=args.code, all=args.all, dry_run=args.dry_run)
    if args.json:
        rows = [
            {"dead_letter_id": r.dead_letter_id, "new_job_id": r.new_job_id, "skipped": r.skipped_reason}
            for r in results
        ]
        print(json.dumps({"results": rows, "dry_run": args.dry_run}, indent=2))
        return 0
    for result in results:
        if result.new_job_id is not None:
            print(f"dead letter {result.dead_letter_id} -> job {result.new_job_id}")
        elif result.skipped_reason is not None:
            print(f"dead letter {result.dead_letter_id} skipped: {result.skipped_reason}")
        else:
            print(f"dead letter {result.dead_letter_id} would be replayed")
    done = sum(1 for r in results if r.skipped_reason is None)
    skipped = len(results) - done
    verb = "would be replayed (dry run: nothing changed)" if args.dry_run else "replayed"
    print(f"{done} {verb}, {skipped} skipped", file=sys.stderr)
    return 0


def _purge(args: argparse.Namespace) -> int:
    count = purge(args.before, dry_run=args.dry_run)
    moment = when(args.before)
    if args.json:
        print(json.dumps({"deleted" if not args.dry_run else "would_delete": count, "before": args.before.isoformat()}))
        return 0
    if args.dry_run:
        print(f"{count} dead letters written before {moment} UTC would be deleted (dry run: nothing changed)")
    else:
        print(f"deleted {count} dead letters written before {moment} UTC")
    return 0


def _no_such_letter(args: argparse.Namespace, dead_letter_id: int) -> int:
    return fail(args, f"no dead letter with id {dead_letter_id}", kind="DeadLetterNotFound")


def letter_as_dict(d: DeadLetterView) -> dict[str, Any]:
    return {
        "id": d.id,
        "job_id": d.job_id,
        "reason": d.reason.value,
        "http_status": d.http_status,
        "error_code": d.error_code,
        "error_message": d.error_message,
        "attempts": d.attempts,
        "scenario_job_id": d.scenario_job_id,
        "task_name": d.task_name,
        "payload": d.payload,
        "status_history": d.status_history,
        "created_at": d.created_at.isoformat(),
        "replayed_at": d.replayed_at.isoformat() if d.replayed_at else None,
        "replayed_job_id": d.replayed_job_id,
    }
