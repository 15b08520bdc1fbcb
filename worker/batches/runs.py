"""Batches from application code: submit a manifest, follow it, cancel it, export its library.

Submitting is resumable: every item has a stable key from its batch and its
inputs, and an item already done or in flight is never queued again.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from worker import runtime
from worker.batches.cancel import BatchCancelReport, CancelFailure, cancel_batch_jobs, cancel_jobs
from worker.batches.downloads import DownloadError, FileRecord, download_items, job_assets
from worker.batches.index import IndexRow, write_index
from worker.batches.items import ItemAction, plan_item
from worker.batches.manifest import Manifest, ManifestError, ManifestItem, Problem
from worker.db.views import BatchItemView, BatchView, JobView
from worker.deadletters import Settlement, settle_from_scenario
from worker.generation import GenerationRequest
from worker.states import JobStatus

log = logging.getLogger("worker.batches")


class BatchNotFound(LookupError):
    """No batch has this name or id."""


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


@dataclass(frozen=True)
class CostReport:
    lines: list[tuple[str, float]]

    @property
    def total(self) -> float:
        return sum(cost for _, cost in self.lines)


@dataclass(frozen=True)
class BatchProgress:
    batch: BatchView
    items: int
    counts: dict[str, int]
    downloaded: int
    elapsed_s: float
    # Creative units: what the items cost so far, and that extended to the items not yet priced.
    cu_spent: float = 0.0
    cu_estimate: float | None = None

    @property
    def succeeded(self) -> int:
        return self.counts.get(JobStatus.SUCCESS.value, 0)

    @property
    def failed(self) -> int:
        return sum(self.counts.get(s.value, 0) for s in (JobStatus.FAILURE, JobStatus.DEAD, JobStatus.CANCELED))

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def is_done(self) -> bool:
        return self.finished >= self.items

    @property
    def settled(self) -> bool:
        """Every item finished and, for a batch with a folder, every success's images fetched."""
        fetched = self.batch.out_dir is None or self.downloaded >= self.succeeded
        return self.is_done and fetched

    @property
    def rate_per_s(self) -> float:
        return self.finished / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        left = self.items - self.finished
        if left <= 0:
            return 0.0
        return left / self.rate_per_s if self.rate_per_s > 0 else None

    def as_dict(self) -> dict:
        return {
            "batch": self.batch.name,
            "batch_id": self.batch.id,
            "items": self.items,
            "counts": self.counts,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "finished": self.finished,
            "downloaded": self.downloaded,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate_per_s": round(self.rate_per_s, 4),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "done": self.is_done,
            "canceled": self.batch.canceled_at is not None,
            "cu_spent": round(self.cu_spent, 3),
            "cu_estimate": None if self.cu_estimate is None else round(self.cu_estimate, 3),
        }


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    files: int
    items: int
    missing: list[str]
    index_json: Path
    index_csv: Path


def submit_batch(manifest: Manifest, *, out_dir: Path | None = None) -> SubmitReport:
    """Queue every item of the manifest that is not already done or in flight.

    Each item is claimed in the database before its job is queued (insert, or move
    from the job this call saw), so two submits of one manifest queue it once.
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
    for (item, key, action, row), request in zip(todo, ready, strict=True):
        _queue_item(batch, item, key, action, row, request, jobs, report)
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
        request, batch_id=batch.id, item_key=key, item_name=item.name, tags=item.tags, prepared=True, job_id=job_id
    )
    if action is ItemAction.SUPERSEDE and row is not None:
        report.superseded.append(item.name)
        old = jobs.get(row.job_id)
        if old is not None and not old.is_final:
            report.cancel_failures.extend(cancel_jobs([old]).failures)
    else:
        (report.queued if action is ItemAction.QUEUE else report.requeued).append(item.name)


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


def estimate_batch(manifest: Manifest) -> CostReport:
    """What each item would cost in creative units, from Scenario's dry run; queues nothing."""
    rt = runtime.current()
    known: dict[str, float] = {}
    lines = []
    for item, request in zip(manifest.items, prepare_items(manifest, list(manifest.items)), strict=True):
        # The seed changes nothing in the price; leaving it out lets equal items share one dry run.
        inputs = {k: v for k, v in request.inputs.items() if k != "seed"}
        fingerprint = json.dumps([request.model_id, inputs], sort_keys=True)
        if fingerprint not in known:
            known[fingerprint] = _dry_run(rt, request.model_id, inputs)
        lines.append((item.name, known[fingerprint]))
    return CostReport(lines)


def _dry_run(rt: runtime.Runtime, model_id: str, inputs: dict) -> float:
    if rt.settings.submit_route == "txt2img":
        return rt.client.estimate_cost({"modelId": model_id, **inputs})
    return rt.client.estimate_cost(model_id=model_id, inputs=inputs)


def find_batch(name_or_id: str) -> BatchView:
    batch = runtime.current().batches.find(name_or_id)
    if batch is None:
        raise BatchNotFound(f"no batch named {name_or_id!r}")
    return batch


def batch_progress(name_or_id: str) -> BatchProgress:
    rt = runtime.current()
    batch = find_batch(name_or_id)
    jobs = list(rt.batches.current_jobs(batch.id).values())
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status.value] = counts.get(job.status.value, 0) + 1
    started = min((job.created_at for job in jobs), default=batch.created_at)
    ended = max((job.finished_at for job in jobs if job.finished_at), default=None)
    finished_all = jobs and all(job.status.is_final for job in jobs)
    until = ended if finished_all and ended else datetime.now(timezone.utc)
    return BatchProgress(
        batch=batch,
        items=max(batch.item_count, len(jobs)),
        counts=counts,
        downloaded=sum(1 for job in jobs if job.files),
        elapsed_s=max(0.0, (until - started).total_seconds()),
        cu_spent=sum(job.cu_spent for job in rt.batches.jobs(batch.id)),
        cu_estimate=_estimate(jobs, max(batch.item_count, len(jobs))),
    )


def _estimate(jobs: list[JobView], items: int) -> float | None:
    """What the whole batch will cost: each priced item's cost, and their mean for the others."""
    priced = [job.cu_spent if job.is_final else (job.cu_cost or 0.0) for job in jobs if job.cu_cost is not None]
    if not priced:
        return None
    return sum(priced) + (items - len(priced)) * (sum(priced) / len(priced))


def cancel_batch(name_or_id: str) -> BatchCancelReport:
    """Cancel every unfinished job of the batch, on Scenario too; the ones Scenario did not cancel are listed."""
    return cancel_batch_jobs(find_batch(name_or_id).id)


def export_batch(name_or_id: str, out_dir: Path) -> ExportReport:
    """Every finished image of the batch in `out_dir` (fetched if missing), with index.json and index.csv."""
    rt = runtime.current()
    batch = find_batch(name_or_id)
    out_dir = Path(out_dir)
    succeeded = sorted(
        (j for j in rt.batches.current_jobs(batch.id).values() if j.status is JobStatus.SUCCESS),
        key=lambda j: j.item_name or j.id,
    )
    rows: list[IndexRow] = []
    missing: list[str] = []
    results = download_items(rt.client, [job_assets(job) for job in succeeded], out_dir)
    for job, (item, outcome) in zip(succeeded, results, strict=True):
        if isinstance(outcome, DownloadError):
            log.warning("could not export %s: %s", item.name, outcome)
            missing.append(item.name)
            continue
        rows.extend(_index_rows(job, item.name, outcome))
    json_path, csv_path = write_index(out_dir, batch.name, rows)
    return ExportReport(out_dir, len(rows), len(succeeded) - len(missing), missing, json_path, csv_path)


def _index_rows(job: JobView, name: str, records: list[FileRecord]) -> list[IndexRow]:
    return [
        IndexRow(
            item=name,
            prompt=str(job.params.get("prompt", "")),
            inputs=job.params,
            scenario_job_id=job.scenario_job_id,
            asset_id=r.asset_id,
            file=r.file,
            bytes=r.bytes,
            sha256=r.sha256,
            width=r.width,
            height=r.height,
            tags=tuple(job.tags),
        )
        for r in records
    ]
