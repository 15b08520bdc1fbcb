"""`scenario-worker batch ...`: whole asset libraries from a manifest."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from worker.batches.manifest import ManifestError, load_manifest
from worker.cli.broker import require_broker
from worker.cli.common import add_json, fail


def register(commands: argparse._SubParsersAction) -> None:
    batch = commands.add_parser("batch", help="generate a whole library from a manifest")
    sub = batch.add_subparsers(dest="batch_command", metavar="ACTION", required=True)

    submit = sub.add_parser("submit", help="check a manifest and queue what is not done yet")
    submit.add_argument("manifest", metavar="MANIFEST", type=Path, help="a .yaml, .yml or .csv file")
    submit.add_argument("--out", type=Path, help="folder the images are downloaded to as they finish")
    submit.add_argument("--name", help="batch name (default: the manifest's, or a CSV file's stem)")
    submit.add_argument(
        "--budget-cu",
        type=_positive,
        metavar="CU",
        help="the most the batch may spend, in creative units (wins over the manifest's budget_cu)",
    )
    submit.add_argument("--dry-run", action="store_true", help="print what each item would cost; queue nothing")
    submit.add_argument("--json", action="store_true", help="print the result as JSON")
    submit.set_defaults(func=_submit)

    status = sub.add_parser("status", help="counts per state, rate and time left")
    status.add_argument("batch", metavar="BATCH", help="batch name or id")
    status.add_argument("--watch", action="store_true", help="show live progress until the batch is finished")
    status.add_argument("--interval", type=_positive, default=1.0, help="seconds between updates (default 1)")
    status.add_argument("--json", action="store_true", help="print the summary as JSON")
    status.set_defaults(func=_status)

    export = sub.add_parser("export", help="write the finished images and index.json / index.csv")
    export.add_argument("batch", metavar="BATCH", help="batch name or id")
    export.add_argument("--out", type=Path, required=True, help="folder to write to")
    add_json(export, "the report")
    export.set_defaults(func=_export)

    budget = sub.add_parser("budget", help="set or lift a batch's budget; paused items that now fit go on")
    budget.add_argument("batch", metavar="BATCH", help="batch name or id")
    limit = budget.add_mutually_exclusive_group(required=True)
    limit.add_argument("--cu", type=_positive, help="the most the batch may spend, in creative units")
    limit.add_argument("--none", action="store_true", help="lift the batch's budget")
    budget.add_argument("--json", action="store_true", help="print the result as JSON")
    budget.set_defaults(func=_budget)

    cancel = sub.add_parser("cancel", help="cancel every unfinished item, on Scenario too")
    cancel.add_argument("batch", metavar="BATCH", help="batch name or id")
    add_json(cancel, "the report")
    cancel.set_defaults(func=_cancel)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _print_progress(queued: int, to_queue: int) -> None:
    """A line per chunk of a long submit (short ones are done before a line would help)."""
    if to_queue > PROGRESS_FROM_ITEMS:
        print(f"queued {queued} of {to_queue} items", file=sys.stderr, flush=True)


# Submits of more items than this print their progress.
PROGRESS_FROM_ITEMS = 1_000


def _submit(args: argparse.Namespace) -> int:
    from worker.batches.runs import estimate_batch, submit_batch

    try:
        manifest = load_manifest(args.manifest, batch_name=args.name, budget_cu=args.budget_cu)
    except ManifestError as exc:
        if args.json:
            return fail(args, f"the manifest has problems; nothing was queued: {exc}", code=2, kind="ManifestError")
        print(f"scenario-worker: the manifest has problems; nothing was queued:\n{exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        report = estimate_batch(manifest)
        if args.json:
            print(json.dumps({"batch": manifest.name, "items": dict(report.lines), "total": report.total}))
            return 0
        width = max(len(name) for name, _ in report.lines)
        for name, cost in report.lines:
            print(f"{name:<{width}}  {cost:>8g} CU")
        print(f"{'total':<{width}}  {report.total:>8g} CU for {len(report.lines)} items (dry run: nothing queued)")
        return 0
    # Before the batch or any item is recorded: with no broker, nothing would ever run them.
    require_broker()
    report = submit_batch(manifest, out_dir=args.out, on_progress=None if args.json else _print_progress)
    summary = {
        "batch": report.batch.name,
        "batch_id": report.batch.id,
        "queued": len(report.queued),
        "requeued": len(report.requeued),
        "done": len(report.done),
        "in_flight": len(report.in_flight),
        "superseded": len(report.superseded),
        "took_result": len(report.took_result),
        "unchecked": len(report.unchecked),
        "resumed": len(report.resumed),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"batch {report.batch.name}: {summary['queued']} queued, {summary['requeued']} queued again, "
            f"{summary['superseded']} changed (new version queued), {summary['done']} already done "
            f"({summary['took_result']} of them taken from Scenario), {summary['in_flight']} in flight"
        )
    if report.unchecked:
        print(
            "not queued, their Scenario job has not finished or could not be asked about: "
            + ", ".join(report.unchecked),
            file=sys.stderr,
        )
    for failure in report.cancel_failures:
        print(f"the old version of {failure.item_name} was not canceled: {failure.error}", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    from worker.batches.progress import progress_line
    from worker.batches.runs import BatchNotFound, batch_progress

    try:
        progress = batch_progress(args.batch)
        if args.watch:
            live = sys.stdout.isatty()
            while not progress.is_done:
                print(("\r" if live else "") + progress_line(progress), end="" if live else "\n", flush=True)
                time.sleep(args.interval)
                progress = batch_progress(args.batch)
            print(("\r" if live else "") + progress_line(progress))
    except BatchNotFound as exc:
        return fail(args, exc.args[0], kind="BatchNotFound")
    if args.json:
        print(json.dumps(progress.as_dict()))
    elif not args.watch:
        print(progress_line(progress))
    return 0


def _export(args: argparse.Namespace) -> int:
    from worker.batches.index import IndexNotWritten
    from worker.batches.runs import BatchNotFound, export_batch

    try:
        report = export_batch(args.batch, args.out)
    except (BatchNotFound, IndexNotWritten) as exc:
        return fail(args, exc.args[0], kind=type(exc).__name__)
    if args.json:
        summary = {
            "files": report.files,
            "items": report.items,
            "out_dir": str(report.out_dir),
            "index_json": str(report.index_json),
            "index_csv": str(report.index_csv),
            "missing": list(report.missing),
        }
        print(json.dumps(summary))
        return 1 if report.missing else 0
    print(
        f"{report.files} files for {report.items} items in {report.out_dir}; index: {report.index_json.name}, "
        f"{report.index_csv.name}"
    )
    if report.missing:
        print("not exported: " + ", ".join(report.missing), file=sys.stderr)
        return 1
    return 0


def _budget(args: argparse.Namespace) -> int:
    from worker.batches.runs import BatchNotFound, set_batch_budget

    require_broker()  # paused items that now fit are sent again
    try:
        batch, resumed = set_batch_budget(args.batch, None if args.none else args.cu)
    except BatchNotFound as exc:
        print(f"scenario-worker: {exc.args[0]}", file=sys.stderr)
        return 1
    if args.json:
        summary = {"batch": batch.name, "budget_cu": batch.budget_cu, "cu_committed": batch.cu_committed}
        print(json.dumps({**summary, "resumed": resumed}))
    else:
        limit = "no budget" if batch.budget_cu is None else f"a budget of {batch.budget_cu:g} CU"
        print(f"batch {batch.name}: {limit}, {batch.cu_committed:g} CU committed; {resumed} paused items sent again")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from worker.batches.runs import BatchNotFound, cancel_batch

    try:
        report = cancel_batch(args.batch)
    except BatchNotFound as exc:
        return fail(args, exc.args[0], kind="BatchNotFound")
    if args.json:
        failures = [
            {"item": f.item_name, "job_id": f.job_id, "scenario_job_id": f.scenario_job_id, "error": str(f.error)}
            for f in report.failures
        ]
        print(json.dumps({"canceled": report.canceled, "requested": report.requested, "failures": failures}))
        return 0 if report.ok else 1
    print(f"canceled {report.canceled} unfinished items")
    if report.requested:
        print(f"{report.requested} items were being submitted: each is canceled on Scenario as soon as it answers")
    for failure in report.failures:
        print(
            f"not canceled: {failure.item_name or failure.job_id} (job {failure.job_id}, Scenario job "
            f"{failure.scenario_job_id}): {failure.error}; it is still watched",
            file=sys.stderr,
        )
    return 0 if report.ok else 1
