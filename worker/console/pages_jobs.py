"""Jobs: a filtered list, one job's whole story, cancel, and the images recorded for it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for

from worker import runtime
from worker.cli.common import parse_when, when
from worker.console.guards import changes_state
from worker.console.present import BadFilter, cost_of, estimate_of, parse_job_filter, plain_file_name, shown_files
from worker.console.present import timeline as history_steps
from worker.db.jobs import JobNotFound
from worker.producer import cancel_job
from worker.retention import check_cutoff, purge_jobs
from worker.scenario.errors import ScenarioError
from worker.states import JobStatus

blueprint = Blueprint("jobs", __name__)


@blueprint.get("/jobs")
def index():
    rt = runtime.current()
    try:
        wanted = parse_job_filter(request.args, datetime.now(timezone.utc))
    except BadFilter as exc:
        return render_template("jobs.html", jobs=[], error=str(exc), statuses=list(JobStatus), cost_of=cost_of), 400
    batch_id = None
    if wanted.batch is not None:
        batch = rt.batches.find(wanted.batch)
        if batch is None:
            error = f"batch: no batch named {wanted.batch!r}"
            return render_template("jobs.html", jobs=[], error=error, statuses=list(JobStatus), cost_of=cost_of), 400
        batch_id = batch.id
    jobs = rt.jobs.search(
        status=wanted.status,
        batch_id=batch_id,
        model_id=wanted.model_id,
        tag=wanted.tag,
        since=wanted.since,
        until=wanted.until,
        limit=wanted.limit,
    )
    return render_template("jobs.html", jobs=jobs, error=None, statuses=list(JobStatus), cost_of=cost_of)


@blueprint.post("/jobs/purge")
@changes_state
def purge():
    """Delete final jobs that ended before a moment (dry run: count them), as `jobs purge` does."""
    now = datetime.now(timezone.utc)
    try:
        before = parse_when(request.form.get("before", ""), now)
        check_cutoff(before, now)
    except ValueError as exc:
        flash(f"before: {str(exc).removeprefix('before: ')}")
        return redirect(url_for("jobs.index"))
    batch_id = None
    if wanted := request.form.get("batch", "").strip():
        batch = runtime.current().batches.find(wanted)
        if batch is None:
            flash(f"batch: no batch named or with id {wanted!r}; nothing was deleted")
            return redirect(url_for("jobs.index"))
        batch_id = batch.id
    dry_run = request.form.get("dry_run") == "on"
    with_files = request.form.get("with_files") == "on"
    report = purge_jobs(before, batch_id=batch_id, with_files=with_files, dry_run=dry_run)
    cutoff = f"final jobs that ended before {when(before)} UTC"
    if dry_run:
        flash(f"{report.jobs} {cutoff} would be deleted, with {report.dead_letters} dead letters (dry run)")
    else:
        files = f"{report.files_deleted} files deleted" if with_files else "files kept"
        flash(f"{report.jobs} {cutoff} deleted, with {report.dead_letters} dead letters; {files}")
    return redirect(url_for("jobs.index"))


@blueprint.get("/jobs/<job_id>")
def show(job_id: str):
    rt = runtime.current()
    job = rt.jobs.get(job_id)
    if job is None:
        abort(404, description=f"no job with id {job_id!r}")
    batch = rt.batches.get(job.batch_id) if job.batch_id else None
    return render_template(
        "job.html",
        job=job,
        batch=batch,
        steps=history_steps(job.status_history),
        files=shown_files(job.files),
        letter=rt.dead_letters.get_for_job(job.id),
        cost=cost_of(job),
        estimate=estimate_of(job),
        refresh_s=None if job.is_final else 2,
    )


@blueprint.post("/jobs/<job_id>/cancel")
@changes_state
def cancel(job_id: str):
    try:
        result = cancel_job(job_id)
    except JobNotFound:
        abort(404, description=f"no job with id {job_id!r}")
    except ScenarioError as exc:
        flash(f"job {job_id}: Scenario did not cancel it: {exc}")
        return redirect(url_for("jobs.show", job_id=job_id))
    flash(f"job {job_id}: {result.explanation} (now {result.status.value})")
    return redirect(url_for("jobs.show", job_id=job_id))


@blueprint.get("/jobs/<job_id>/files/<int:index>")
def file(job_id: str, index: int):
    """One file the database records for this job, from its batch's folder; nothing the request names."""
    rt = runtime.current()
    job = rt.jobs.get(job_id)
    batch = rt.batches.get(job.batch_id) if job is not None and job.batch_id else None
    if job is None or batch is None or not batch.out_dir or index >= len(job.files):
        abort(404)
    name = plain_file_name(job.files[index])
    folder = Path(batch.out_dir).resolve()
    path = (folder / name).resolve() if name else None
    # A recorded name is a bare file name, and a symlink must not lead out of the folder either.
    if path is None or path.parent != folder or not path.is_file():
        abort(404)
    return send_file(path, max_age=0)
