"""`scenario-worker jobs list | show | recover | reconcile | purge` and `cancel`: over many jobs."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any

from worker import runtime
from worker.cli.broker import require_broker
from worker.cli.common import add_json, fail, past_when_arg, positive_int, shorten, table, when, when_arg
from worker.cli.jobs import job_as_dict, register_show
from worker.db.views import JobView
from worker.errors import JobNotFound
from worker.producer import CancelOutcome, cancel_job
from worker.retention import DEFAULT_CHUNK
from worker.scenario.errors import ScenarioError
from worker.states import JobStatus

# --- command line -----------------------------------------------------------------------


def register(commands: argparse._SubParsersAction) -> None:
    jobs = commands.add_parser("jobs", help="list jobs")
    sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="the newest jobs, with filters")
    statuses = [s.value for s in JobStatus]
    listing.add_argument(
        "--status", choices=statuses, metavar="STATUS", help="only jobs in this status: " + ", ".join(statuses)
    )
    listing.add_argument("--batch", metavar="BATCH", help="only jobs of this batch (its name or its id)")
    listing.add_argument("--tag", metavar="TAG", help="only jobs with this tag")
    listing.add_argument(
        "--meta",
        metavar="KEY=VALUE",
        type=meta_filter,
        help="only jobs whose metadata has KEY set to VALUE (read as JSON when it can be: 42, true, else text)",
    )
    listing.add_argument("--limit", type=positive_int, default=50, metavar="N", help="at most N jobs (default 50)")
    add_json(listing, "the jobs")
    listing.set_defaults(func=_list)

    register_show(sub.add_parser("show", help="one job: its status, history, options and error"))

    recover = sub.add_parser("recover", help="send the next task again for jobs nothing has touched for a while")
    recover.add_argument(
        "--older-than",
        dest="untouched_since",
        type=when_arg,
        default="15m",
        metavar="WHEN",
        help="untouched since this date or for this long (30m, 12h, 7d; default 15m)",
    )
    recover.add_argument("--dry-run", action="store_true", help="list them; send nothing")
    add_json(recover, "the jobs")
    recover.set_defaults(func=_recover)

    reconcile = sub.add_parser(
        "reconcile", help="give each Scenario job no row holds to the row it was made for, or cancel it on Scenario"
    )
    reconcile.add_argument(
        "--since",
        dest="since",
        type=when_arg,
        default="1h",
        metavar="WHEN",
        help="Scenario jobs made since this date or for this long (30m, 12h, 7d; default 1h)",
    )
    reconcile.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")
    add_json(reconcile, "the report")
    reconcile.set_defaults(func=_reconcile)

    purge = sub.add_parser(
        "purge", help="delete final jobs that ended before a moment, with their history, batch items, dead letters"
    )
    purge.add_argument(
        "--before",
        type=past_when_arg,
        required=True,
        metavar="WHEN",
        help="jobs that ended before this date or this long ago (30d, 12h, 2025-01-31)",
    )
    purge.add_argument("--batch", metavar="BATCH", help="only jobs of this batch (its name or its id)")
    files = purge.add_mutually_exclusive_group()
    files.add_argument(
        "--keep-files",
        dest="with_files",
        action="store_false",
        help="leave the images written for them on disk (the default)",
    )
    files.add_argument(
        "--with-files",
        dest="with_files",
        action="store_true",
        help="delete the images written for them too (only files that still hold the recorded bytes)",
    )
    purge.add_argument(
        "--chunk",
        type=positive_int,
        default=DEFAULT_CHUNK,
        metavar="N",
        help=f"jobs per transaction (default {DEFAULT_CHUNK})",
    )
    purge.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
    purge.add_argument("--json", action="store_true", help="print the report as JSON (progress goes to stderr)")
    purge.set_defaults(func=_purge, with_files=False)

    cancel = commands.add_parser("cancel", help="cancel one job, on Scenario and here")
    cancel.add_argument("job_id", metavar="JOB_ID")
    add_json(cancel, "what became of the job")
    cancel.set_defaults(func=_cancel)


def meta_filter(text: str) -> tuple[str, Any]:
    """argparse type: KEY=VALUE, the value read as JSON when it can be."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. order=42")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def _list(args: argparse.Namespace) -> int:
    status = JobStatus(args.status) if args.status else None
    batch_id = None
    if args.batch is not None:
        batch = runtime.current().batches.find(args.batch)
        if batch is None:
            return fail(args, f"no batch named or with id {args.batch!r}", kind="BatchNotFound")
        batch_id = batch.id
    found = runtime.current().jobs.search(
        status=status, batch_id=batch_id, tag=args.tag, metadata=args.meta, limit=args.limit
    )
    if args.json:
        print(json.dumps([_job_row(job) for job in found], indent=2))
        return 0
    if not found:
        print("no jobs match")
        return 0
    rows = [
        [
            job.id,
            job.status.value,
            when(job.created_at),
            job.scenario_job_id or "-",
            job.batch_id or "-",
            f"{job.cu_spent:g}" if job.cu_cost is not None else "-",
            shorten(str(job.params.get("prompt", "")), 50),
        ]
        for job in found
    ]
    print(table(["ID", "STATUS", "CREATED (UTC)", "SCENARIO JOB", "BATCH", "CU", "PROMPT"], rows))
    priced = [job for job in found if job.cu_cost is not None]
    print(f"{len(found)} jobs, {sum(job.cu_spent for job in priced):g} creative units spent")
    return 0


def _job_row(job: JobView) -> dict[str, Any]:
    return {**job_as_dict(job), "batch_id": job.batch_id, "item_key": job.item_key}


def _recover(args: argparse.Namespace) -> int:
    from worker.tasks.recovery import recover_stalled

    if not args.dry_run:
        require_broker()
    stalled = recover_stalled(untouched_since=args.untouched_since, dry_run=args.dry_run)
    if args.json:
        rows = [
            {"id": j.id, "status": j.status.value, "step": "submit" if j.scenario_job_id is None else "poll"}
            for j in stalled
        ]
        print(json.dumps({"jobs": rows, "dry_run": args.dry_run}, indent=2))
        return 0
    verb = "would send again" if args.dry_run else "sent again"
    for job in stalled:
        step = "submit" if job.scenario_job_id is None else "poll"
        print(f"{job.id}  {job.status.value}  {step} {verb}  (last touched {when(job.updated_at)} UTC)")
    print(f"{len(stalled)} stalled jobs")
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    from worker.reconcile import reconcile

    window_s = max(1.0, (datetime.now(timezone.utc) - args.since).total_seconds())
    try:
        report = reconcile(window_s=window_s, dry_run=args.dry_run)
    except ScenarioError as exc:
        return fail(args, f"could not list Scenario's jobs: {exc}", kind=type(exc).__name__)
    if args.json:
        print(json.dumps({**report.as_dict(), "dry_run": args.dry_run}, indent=2))
        return 1 if report.failed else 0
    verb = "would be " if args.dry_run else ""
    for job_id, scenario_job_id in report.adopted:
        print(f"Scenario job {scenario_job_id} {verb}adopted by job {job_id}")
    for scenario_job_id in report.canceled:
        print(f"Scenario job {scenario_job_id} {verb}canceled on Scenario (its row holds another or has ended)")
    for scenario_job_id, error in report.failed:
        print(f"Scenario job {scenario_job_id} could not be canceled: {error}", file=sys.stderr)
    print(
        f"{report.listed} Scenario jobs listed: {len(report.adopted)} adopted, {len(report.canceled)} canceled, "
        f"{len(report.not_ours)} made by no job of ours"
    )
    return 1 if report.failed else 0


def _purge(args: argparse.Namespace) -> int:
    from worker.retention import purge_jobs

    batch_id = None
    if args.batch is not None:
        batch = runtime.current().batches.find(args.batch)
        if batch is None:
            print(f"scenario-worker: no batch named or with id {args.batch!r}", file=sys.stderr)
            return 1
        batch_id = batch.id

    def progress(deleted: int, total: int) -> None:
        print(f"purged {deleted}/{total} jobs", file=sys.stderr if args.json else sys.stdout, flush=True)

    report = purge_jobs(
        args.before,
        batch_id=batch_id,
        with_files=args.with_files,
        dry_run=args.dry_run,
        chunk=args.chunk,
        on_progress=progress,
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    cutoff = f"final jobs that ended before {when(report.before)} UTC"
    if report.dry_run:
        print(
            f"{report.jobs} {cutoff} would be deleted, with {report.dead_letters} dead letters "
            f"and {report.batch_items} batch items (dry run: nothing changed)"
        )
        return 0
    files = f"{report.files_deleted} files deleted" if args.with_files else "files kept"
    if report.files_kept:
        files += f", {report.files_kept} left in place (changed since, or another job's now)"
    print(
        f"{report.jobs} {cutoff} deleted, with {report.dead_letters} dead letters "
        f"and {report.batch_items} batch items; {files}"
    )
    return 0


def _cancel(args: argparse.Namespace) -> int:
    try:
        result = cancel_job(args.job_id)
    except JobNotFound:
        return fail(args, f"no job with id {args.job_id!r}", kind="JobNotFound")
    except ScenarioError as exc:
        return fail(args, f"Scenario did not cancel job {args.job_id}: {exc}", kind=type(exc).__name__)
    if args.json:
        print(
            json.dumps(
                {
                    "job_id": args.job_id,
                    "outcome": result.outcome.value,
                    "status": result.status.value,
                    "scenario_job_id": result.scenario_job_id,
                    "explanation": result.explanation,
                }
            )
        )
        return 1 if result.outcome is CancelOutcome.ALREADY_FINAL else 0
    if result.outcome is CancelOutcome.ALREADY_FINAL:
        message = f"job {args.job_id} is already {result.status.value}; nothing to cancel"
        if result.scenario_job_id and result.status.value == "success":
            message = f"job {args.job_id}: {result.explanation}; its result and cost are kept"
        print(f"scenario-worker: {message}", file=sys.stderr)
        return 1
    print(f"job {args.job_id}: {result.explanation}")
    return 0
