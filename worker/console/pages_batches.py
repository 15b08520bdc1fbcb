"""Batches: progress of each, one batch's page, its contact sheet, and cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from worker import runtime
from worker.batches.progress import SHOWN, duration
from worker.batches.runs import (
    BatchNotFound,
    BatchProgress,
    batch_progress,
    cancel_batch,
    download_failures,
    find_batch,
    progress_of,
)
from worker.console.guards import changes_state
from worker.console.present import BatchCost, batch_cost, percent, shown_files, spent_and_estimate
from worker.db.batches import BatchTally
from worker.db.views import BatchView
from worker.states import JobStatus

blueprint = Blueprint("batches", __name__)
# Live pages reload themselves this often while something is still running.
REFRESH_S = 2
BATCHES_SHOWN = 100


@dataclass(frozen=True)
class BatchRow:
    progress: BatchProgress
    cost: BatchCost

    @property
    def batch(self) -> BatchView:
        return self.progress.batch

    @property
    def percent(self) -> int:
        return percent(self.progress.finished, self.progress.items)

    @property
    def eta(self) -> str:
        return duration(self.progress.eta_s)

    @property
    def elapsed(self) -> str:
        return duration(self.progress.elapsed_s)

    @property
    def counts(self) -> list[tuple[str, int]]:
        return [(state, self.progress.counts[state]) for state in SHOWN if self.progress.counts.get(state)]


def _row(batch: BatchView, tally: BatchTally, now: datetime) -> BatchRow:
    progress = progress_of(batch, tally, now, download_failures(batch.id))
    cost = spent_and_estimate(progress.current_spent, progress.current_jobs, progress.items)
    return BatchRow(progress, cost)


@blueprint.get("/batches")
def index():
    # Every row is summed up by the database in one aggregate: no batch's jobs are read, however many.
    rt = runtime.current()
    batches = rt.batches.list(limit=BATCHES_SHOWN)
    tallies = rt.batches.tallies([batch.id for batch in batches])
    now = datetime.now(timezone.utc)
    rows = [_row(batch, tallies[batch.id], now) for batch in batches]
    live = any(not row.progress.settled and row.batch.canceled_at is None for row in rows)
    return render_template("batches.html", rows=rows, refresh_s=REFRESH_S if live else None)


def _find(name: str) -> BatchView:
    try:
        return find_batch(name)
    except BatchNotFound:
        abort(404, description=f"no batch named {name!r}")


@blueprint.get("/batches/<name>")
def show(name: str):
    batch = _find(name)
    jobs = list(runtime.current().batches.current_jobs(batch.id).values())
    row = BatchRow(batch_progress(batch.id), batch_cost(jobs, max(batch.item_count, len(jobs))))
    jobs.sort(key=lambda j: j.item_name or j.id)
    live = not row.progress.settled and row.batch.canceled_at is None
    return render_template("batch.html", row=row, jobs=jobs, refresh_s=REFRESH_S if live else None)


@blueprint.get("/batches/<name>/sheet")
def sheet(name: str):
    """Every finished image of the batch, named by its item, each opening its job."""
    batch = _find(name)
    jobs = sorted(
        (j for j in runtime.current().batches.current_jobs(batch.id).values() if j.status is JobStatus.SUCCESS),
        key=lambda j: j.item_name or j.id,
    )
    tiles = [(job, f) for job in jobs for f in shown_files(job.files) if f.is_image]
    waiting = [job for job in jobs if not job.files]
    return render_template(
        "sheet.html", batch=batch, tiles=tiles, waiting=waiting, refresh_s=REFRESH_S if waiting else None
    )


@blueprint.post("/batches/<name>/cancel")
@changes_state
def cancel(name: str):
    batch = _find(name)
    count = cancel_batch(batch.id)
    flash(f"batch {batch.name}: {count} unfinished items canceled")
    return redirect(url_for("batches.show", name=batch.name))
