"""Submitting a manifest: every item claimed in the database, then queued once.

An item is (batch, item name); its version is its key (`ManifestItem.key`). Submitting
again queues only what is new, changed (the old job canceled) or ended without success,
and asks Scenario first about a dead item it had accepted, so nothing is paid for twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from worker import runtime
from worker.batches.cancel import CancelFailure, cancel_jobs
from worker.batches.items import ItemAction, plan_item
from worker.batches.manifest import Manifest, ManifestError, ManifestItem, Problem
from worker.db.jobs import NewJob, StoredOptions
from worker.db.views import BatchItemView, BatchView, JobView
from worker.deadletters import Settlement, settle_from_scenario
from worker.generation import GenerationRequest
from worker.options import JobOptions
from worker.spending import resume_paused

# Told (items queued so far, items to queue) as a long submit goes on.
Progress = Callable[[int, int], None]

log = logging.getLogger("worker.batches")


@dataclass(frozen=True)
class SubmitReport:
    batch: BatchView
    created: bool
    queued: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    # Items whose inputs changed: a new job each, the old one canceled.
    superseded: list[str] = field(default_factory=list)
    # Dead items whose Scenario job had succeeded after all: its result taken, nothing paid (also in `done`).
    took_result: list[str] = field(default_factory=list)
    # Dead items whose Scenario job is still running, or Scenario could not be asked: left alone.
    unchecked: list[str] = field(default_factory=list)
    cancel_failures: list[CancelFailure] = field(default_factory=list)
    # Items that waited for the batch's budget and were sent again under the manifest's.
    resumed: list[str] = field(default_factory=list)


def submit_batch(
    manifest: Manifest, *, out_dir: Path | None = None, on_progress: Progress | None = None
) -> SubmitReport:
    """Queue every item of the manifest that is not already done or in flight.

    Each item is claimed in the database before its job is queued (insert, or move
    from the job this call saw), so two submits of one manifest queue it once.
    New items are claimed, recorded and published in bulk, a chunk at a time;
    `on_progress(queued, to_queue)` is told after each chunk.
    """
    rt = runtime.current()
    folder = str(Path(out_dir).resolve()) if out_dir is not None else None
    batch, created = rt.batches.open(
        name=manifest.name, source=manifest.source, out_dir=folder, item_count=len(manifest.items)
    )
    rows = {} if created else rt.batches.items(batch.id)
    jobs = {job.id: job for job in rt.jobs.get_many(row.job_id for row in rows.values())}
    report = SubmitReport(batch=batch, created=created)
    todo = []
    for item in manifest.items:
        key = item.key(manifest.name)
        row = rows.get(item.name) or (None if created else _legacy_row(batch.id, item.name, key, jobs))
        action = _action(row, key, jobs)
        if action is ItemAction.ASK_SCENARIO:
            action = _ask_scenario(jobs[row.job_id], item.name, report)
        if action is ItemAction.DONE:
            report.done.append(item.name)
        elif action is ItemAction.IN_FLIGHT:
            report.in_flight.append(item.name)
        elif action is not None:
            todo.append((item, key, action, row))
    # Every item is made ready (checked by its model's schema, references uploaded) before any is queued.
    ready = prepare_items(manifest, [item for item, _, _, _ in todo])
    if manifest.budget_cu is not None and manifest.budget_cu != batch.budget_cu:
        # Before any new item is queued, so that none of them runs outside the budget.
        rt.budgets.set_batch_budget(batch.id, manifest.budget_cu)
    new = []
    for (item, key, action, row), request in zip(todo, ready, strict=True):
        if action is ItemAction.QUEUE and row is None:
            new.append((item, key, request))
        else:
            _queue_item(batch, item, key, action, row, request, jobs, report)
    _queue_new_items(batch, new, report, on_progress)
    if manifest.budget_cu is not None:
        report.resumed.extend(resume_paused(batch_id=batch.id))
    log.info(
        "batch %s: %d queued, %d requeued, %d superseded, %d done, %d in flight, %d unchecked",
        batch.name,
        len(report.queued),
        len(report.requeued),
        len(report.superseded),
        len(report.done),
        len(report.in_flight),
        len(report.unchecked),
    )
    return report


def _action(row: BatchItemView | None, key: str, jobs: dict[str, JobView]) -> ItemAction:
    job = jobs.get(row.job_id) if row is not None else None
    return plan_item(
        claimed=row is not None,
        same_version=row is not None and row.item_key == key,
        status=job.status if job is not None else None,
        has_scenario_job=job is not None and job.scenario_job_id is not None,
        claim_age_s=(datetime.now(timezone.utc) - row.claimed_at).total_seconds() if row is not None else 0.0,
    )


def _legacy_row(batch_id: str, name: str, key: str, jobs: dict[str, JobView]) -> BatchItemView | None:
    """An item recorded before items had rows: its newest job by key becomes the item's job."""
    rt = runtime.current()
    job = rt.jobs.find_by_item_key(batch_id, key)
    if job is None:
        return None
    rt.batches.claim_item(batch_id, name, key, job.id, replacing=None)
    row = rt.batches.items(batch_id).get(name)
    if row is not None and row.job_id not in jobs:
        jobs.update({j.id: j for j in rt.jobs.get_many([row.job_id])})
    return row


def _ask_scenario(job: JobView, name: str, report: SubmitReport) -> ItemAction | None:
    """A dead item Scenario accepted: take its result, or requeue it only if Scenario's job failed."""
    settlement = settle_from_scenario(job)
    if settlement is Settlement.TOOK_RESULT:
        report.took_result.append(name)
        return ItemAction.DONE
    if settlement is Settlement.SUBMIT_AGAIN:
        return ItemAction.REQUEUE
    report.unchecked.append(name)  # still running or Scenario unreachable: nothing is paid now
    return None


def _queue_item(
    batch: BatchView,
    item: ManifestItem,
    key: str,
    action: ItemAction,
    row: BatchItemView | None,
    request: GenerationRequest,
    jobs: dict[str, JobView],
    report: SubmitReport,
) -> None:
    """Claim the item for a new job (or finish an interrupted claim) and queue it; cancel a replaced version."""
    from worker.producer import enqueue_request

    rt = runtime.current()
    if action is ItemAction.FINISH_CLAIM and row is not None:
        job_id = row.job_id
    else:
        job_id = uuid.uuid4().hex
        if not rt.batches.claim_item(batch.id, item.name, key, job_id, replacing=row.job_id if row else None):
            report.in_flight.append(item.name)  # another submit claimed it first
            return
    enqueue_request(
        request,
        batch_id=batch.id,
        item_key=key,
        item_name=item.name,
        tags=item.tags,
        prepared=True,
        job_id=job_id,
        options=JobOptions(priority=item.priority, metadata=item.metadata),
    )
    if action is ItemAction.SUPERSEDE and row is not None:
        report.superseded.append(item.name)
        old = jobs.get(row.job_id)
        if old is not None and not old.is_final:
            report.cancel_failures.extend(cancel_jobs([old]).failures)
    else:
        (report.queued if action is ItemAction.QUEUE else report.requeued).append(item.name)


def _queue_new_items(
    batch: BatchView,
    new: list[tuple[ManifestItem, str, GenerationRequest]],
    report: SubmitReport,
    on_progress: Progress | None,
) -> None:
    """Items never claimed: claimed with one INSERT per chunk, their jobs recorded and queued in bulk."""
    from worker.producer import QUEUE_CHUNK, queue_new_jobs

    rt = runtime.current()
    for start in range(0, len(new), QUEUE_CHUNK):
        rows = {
            item.name: NewJob(
                model_id=request.model_id,
                params=request.to_params(),
                batch_id=batch.id,
                item_key=key,
                item_name=item.name,
                tags=tuple(item.tags),
                options=StoredOptions(priority=item.priority, metadata=item.metadata),
            )
            for item, key, request in new[start : start + QUEUE_CHUNK]
        }
        claimed = set(rt.batches.claim_new_items(batch.id, [(n, r.item_key, r.job_id) for n, r in rows.items()]))
        queue_new_jobs([row for name, row in rows.items() if name in claimed])
        for name in rows:
            # An item another submit claimed first is that submit's to queue.
            (report.queued if name in claimed else report.in_flight).append(name)
        if on_progress is not None:
            on_progress(min(start + QUEUE_CHUNK, len(new)), len(new))


def prepare_items(manifest: Manifest, items: list[ManifestItem]) -> list[GenerationRequest]:
    """Each item's request as it will be sent; ManifestError naming every item that cannot be."""
    preflight = runtime.current().preflight
    if preflight is None:
        return [item.request for item in items]
    base = Path(manifest.source).parent if manifest.source != "<manifest>" else None
    ready, problems = [], []
    for item in items:
        try:
            ready.append(preflight.prepare(item.request, base_dir=base))
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            problems.append(Problem(item.line, item.name, field if message else None, message or str(exc)))
    if problems:
        raise ManifestError(problems, manifest.source)
    return ready
