"""`scenario-worker callbacks list | replay`: completion callbacks that could not be delivered."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from worker import runtime
from worker.cli.broker import require_broker
from worker.cli.common import positive_int, shorten, table, when
from worker.db.callbacks import CallbackNotFound, CallbackView, NotReplayable
from worker.db.models import CallbackStatus

ALL = "all"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    callbacks = commands.add_parser("callbacks", help="list and replay completion callbacks")
    sub = callbacks.add_subparsers(dest="callbacks_command", metavar="ACTION", required=True)

    statuses = [s.value for s in CallbackStatus] + [ALL]
    list_cmd = sub.add_parser("list", help="deliveries, the dead-lettered ones unless told otherwise")
    list_cmd.add_argument(
        "--status",
        choices=statuses,
        default=CallbackStatus.DEAD.value,
        metavar="STATUS",
        help="only these: " + ", ".join(statuses) + " (default dead)",
    )
    list_cmd.add_argument("--limit", type=positive_int, default=50, metavar="N", help="at most N (default 50)")
    list_cmd.add_argument("--json", action="store_true", help="print them as JSON")
    list_cmd.set_defaults(func=_list)

    replay_cmd = sub.add_parser("replay", help="send a dead (or 410-refused) delivery again, with a fresh budget")
    replay_cmd.add_argument("delivery_id", metavar="ID", type=int)
    replay_cmd.set_defaults(func=_replay)


def _list(args: argparse.Namespace) -> int:
    status = None if args.status == ALL else CallbackStatus(args.status)
    deliveries = runtime.current().callbacks.list(status=status, limit=args.limit)
    if args.json:
        print(json.dumps([delivery_as_dict(d) for d in deliveries], indent=2))
        return 0
    if not deliveries:
        print("no callback deliveries match")
        return 0
    rows = [
        [
            str(d.id),
            when(d.updated_at),
            d.status.value,
            str(d.attempts),
            str(d.last_http_status or "-"),
            d.job_id,
            shorten(d.url, 50),
            shorten(d.last_error or "-", 50),
        ]
        for d in deliveries
    ]
    print(table(["ID", "LAST (UTC)", "STATUS", "ATTEMPTS", "HTTP", "JOB", "URL", "ERROR"], rows))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from worker.dispatch import send_callback

    require_broker()
    try:
        delivery = runtime.current().callbacks.replay(args.delivery_id)
    except CallbackNotFound:
        print(f"scenario-worker: no callback delivery with id {args.delivery_id}", file=sys.stderr)
        return 1
    except NotReplayable as exc:
        print(f"scenario-worker: {exc}", file=sys.stderr)
        return 1
    send_callback(delivery.id)
    print(f"callback delivery {delivery.id} for job {delivery.job_id} queued again to {delivery.url}")
    return 0


def delivery_as_dict(d: CallbackView) -> dict[str, Any]:
    return {
        "id": d.id,
        "job_id": d.job_id,
        "webhook_id": d.webhook_id,
        "url": d.url,
        "status": d.status.value,
        "attempts": d.attempts,
        "last_http_status": d.last_http_status,
        "last_error": d.last_error,
        "body": json.loads(d.body),
        "created_at": d.created_at.isoformat(),
        "updated_at": d.updated_at.isoformat(),
        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
        "replayed_at": d.replayed_at.isoformat() if d.replayed_at else None,
    }
