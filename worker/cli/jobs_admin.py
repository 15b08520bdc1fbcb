"""`scenario-worker jobs list | cancel`: look over many jobs, stop one."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from worker import runtime
from worker.cli.jobs import job_as_dict
from worker.db.jobs import JobNotFound
from worker.db.views import JobView
from worker.scenario.errors import ScenarioError
from worker.states import JobStatus

CANCELED_BY_REQUEST = {"status": None, "code": "CANCELED", "message": "canceled on request"}


class CancelOutcome(StrEnum):
    """How a cancel ended."""

    CANCELED = "canceled"  # on Scenario, then here
    CANCELED_LOCALLY = "canceled_locally"  # it had not reached Scenario; its submit will skip it
    ALREADY_FINAL = "already_final"  # nothing to cancel


@dataclass(frozen=True)
class CancelResult:
    job_id: str
    outcome: CancelOutcome
    status: JobStatus
    scenario_job_id: str | None


def cancel_job(job_id: str) -> CancelResult:
    """Cancel a job on Scenario if it is there, then record it CANCELED; a final job is left as it is.

    Raises JobNotFound for an unknown id, and ScenarioError when Scenario
    refuses or cannot be reached (the job is then left as it was, unless it
    had not reached Scenario when the cancel began).
    """
    rt = runtime.current()
    job = rt.jobs.get(job_id)
    if job is None:
        raise JobNotFound(job_id)
    if job.is_final:
        return CancelResult(job_id, CancelOutcome.ALREADY_FINAL, job.status, job.scenario_job_id)
    if job.scenario_job_id is None:
        if not rt.jobs.mark_status(job_id, JobStatus.CANCELED, error=CANCELED_BY_REQUEST):
            return _as_it_stands(job_id)
        job = _reload(job_id)
        if job.scenario_job_id is None:
            return CancelResult(job_id, CancelOutcome.CANCELED_LOCALLY, job.status, None)
        # A submit already past its check sent it meanwhile: stop that one too.
    answer = rt.client.cancel_job(job.scenario_job_id)
    remote = JobStatus.from_scenario(str(answer.get("status")))
    if remote is not None and remote.is_final and remote is not JobStatus.CANCELED:
        # Scenario finished it first; the poller records that result.
        return CancelResult(job_id, CancelOutcome.ALREADY_FINAL, remote, job.scenario_job_id)
    if answer.get("jobId") == job.scenario_job_id:
        rt.jobs.apply_snapshot(job_id, answer)  # keeps Scenario's status history, "canceled" included
    rt.jobs.mark_status(job_id, JobStatus.CANCELED, error=CANCELED_BY_REQUEST)
    job = _reload(job_id)
    outcome = CancelOutcome.CANCELED if job.status is JobStatus.CANCELED else CancelOutcome.ALREADY_FINAL
    return CancelResult(job_id, outcome, job.status, job.scenario_job_id)


def _reload(job_id: str) -> JobView:
    job = runtime.current().jobs.get(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def _as_it_stands(job_id: str) -> CancelResult:
    job = _reload(job_id)
    return CancelResult(job_id, CancelOutcome.ALREADY_FINAL, job.status, job.scenario_job_id)


# --- command line -----------------------------------------------------------------------


def register(commands: argparse._SubParsersAction) -> None:
    jobs = commands.add_parser("jobs", help="list jobs")
    sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="the newest jobs, with filters")
    statuses = [s.value for s in JobStatus]
    listing.add_argument(
        "--status", choices=statuses, metavar="STATUS", help="only jobs in this status: " + ", ".join(statuses)
    )
    listing.add_argument("--batch", dest="batch_id", metavar="BATCH_ID", help="only jobs of this batch")
    listing.add_argument("--limit", type=positive_int, default=50, metavar="N", help="at most N jobs (default 50)")
    listing.add_argument("--json", action="store_true", help="print the jobs as JSON")
    listing.set_defaults(func=_list)

    cancel = commands.add_parser("cancel", help="cancel one job, on Scenario and here")
    cancel.add_argument("job_id", metavar="JOB_ID")
    cancel.set_defaults(func=_cancel)


def _list(args: argparse.Namespace) -> int:
    status = JobStatus(args.status) if args.status else None
    found = runtime.current().jobs.list(status=status, batch_id=args.batch_id, limit=args.limit)
    if args.json:
        print(json.dumps([_job_row(job) for job in found], indent=2))
        return 0
    if not found:
        print("no jobs match")
        return 0
    rows = [
        [job.id, job.status.value, when(job.created_at), job.scenario_job_id or "-", job.batch_id or "-",
         shorten(str(job.params.get("prompt", "")), 50)]
        for job in found
    ]
    print(table(["ID", "STATUS", "CREATED (UTC)", "SCENARIO JOB", "BATCH", "PROMPT"], rows))
    return 0


def _job_row(job: JobView) -> dict[str, Any]:
    return {**job_as_dict(job), "batch_id": job.batch_id, "item_key": job.item_key}


def _cancel(args: argparse.Namespace) -> int:
    try:
        result = cancel_job(args.job_id)
    except JobNotFound:
        print(f"scenario-worker: no job with id {args.job_id!r}", file=sys.stderr)
        return 1
    except ScenarioError as exc:
        print(f"scenario-worker: Scenario did not cancel job {args.job_id}: {exc}", file=sys.stderr)
        return 1
    if result.outcome is CancelOutcome.ALREADY_FINAL:
        message = f"job {args.job_id} is already {result.status.value}; nothing to cancel"
        print(f"scenario-worker: {message}", file=sys.stderr)
        return 1
    if result.outcome is CancelOutcome.CANCELED_LOCALLY:
        print(f"job {args.job_id} canceled before it reached Scenario")
    else:
        print(f"job {args.job_id} canceled (Scenario job {result.scenario_job_id})")
    return 0


# --- shared by the listing commands -----------------------------------------------------


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths)] + [str(row[-1])]
        lines.append("  ".join(cells))
    return "\n".join(lines)
