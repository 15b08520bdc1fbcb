"""Batches from application code: submit a manifest, follow it, cancel it, export its library.

Submitting (`worker.batches.submit`) is resumable: an item is (batch, item name), and
an item already done or in flight is never queued again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import redis

from worker import runtime
from worker.batches.cancel import BatchCancelReport, CancelFailure, cancel_batch_jobs
from worker.batches.downloads import DownloadError, FileRecord, download_items, job_assets
from worker.batches.index import IndexRow, write_index
from worker.batches.manifest import Manifest
from worker.batches.submit import SubmitReport, prepare_items, submit_batch
from worker.db.batches import BatchTally, StatusTally
from worker.db.views import BatchView, JobView
from worker.spending import dry_run_cost, price_fingerprint, resume_paused
from worker.states import JobStatus

log = logging.getLogger("worker.batches")

__all__ = [
    "BatchCancelReport",
    "BatchNotFound",
    "BatchProgress",
    "CancelFailure",
    "CostReport",
    "ExportReport",
    "SubmitReport",
    "batch_progress",
    "cancel_batch",
    "estimate_batch",
    "export_batch",
    "find_batch",
    "set_batch_budget",
    "prepare_items",
    "submit_batch",
]


class BatchNotFound(LookupError):
    """No batch has this name or id."""


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
    # Items whose images failed to download last time; they are fetched again.
    download_failed: int = 0
    # The jobs standing for the items now (one per item), and the units they spent.
    current_jobs: int = 0
    current_spent: float = 0.0
    # Items waiting for a budget (the batch's or the fleet's daily one), and why one of them waits.
    paused: int = 0
    paused_reason: str | None = None

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
    def all_finished(self) -> bool:
        """Every item ended on Scenario (its images may still be on their way to the folder)."""
        return self.finished >= self.items

    @property
    def is_done(self) -> bool:
        """Every item finished and, for a batch with a folder, every success's images written."""
        fetched = self.batch.out_dir is None or self.downloaded >= self.succeeded
        return self.all_finished and fetched

    @property
    def settled(self) -> bool:
        return self.is_done

    @property
    def rate_per_s(self) -> float:
        return self.finished / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        left = self.items - self.finished
        if left <= 0:
            return 0.0
        return left / self.rate_per_s if self.rate_per_s > 0 else None

    @property
    def cu_left(self) -> float | None:
        """What the batch's budget still allows, in creative units (None: no budget)."""
        if self.batch.budget_cu is None:
            return None
        return self.batch.budget_cu - self.batch.cu_committed

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
            "download_failed": self.download_failed,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate_per_s": round(self.rate_per_s, 4),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "done": self.is_done,
            "canceled": self.batch.canceled_at is not None,
            "cu_spent": round(self.cu_spent, 3),
            "cu_estimate": None if self.cu_estimate is None else round(self.cu_estimate, 3),
            "budget_cu": self.batch.budget_cu,
            "cu_committed": round(self.batch.cu_committed, 3),
            "cu_in_flight": round(max(0.0, self.batch.cu_committed - self.cu_spent), 3),
            "cu_left": None
            if self.batch.budget_cu is None
            else round(self.batch.budget_cu - self.batch.cu_committed, 3),
            "paused": self.paused,
            "paused_reason": self.paused_reason,
        }


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    files: int
    items: int
    missing: list[str]
    index_json: Path
    index_csv: Path


def estimate_batch(manifest: Manifest) -> CostReport:
    """What each item would cost in creative units, from Scenario's dry run; queues nothing."""
    known: dict[str, float] = {}
    lines = []
    for item, request in zip(manifest.items, prepare_items(manifest, list(manifest.items)), strict=True):
        # Equal items apart from their prompt or seed share one dry run.
        fingerprint = price_fingerprint(request.model_id, request.inputs)
        if fingerprint not in known:
            known[fingerprint] = dry_run_cost(request.model_id, request.inputs)
        lines.append((item.name, known[fingerprint]))
    return CostReport(lines)


def find_batch(name_or_id: str) -> BatchView:
    batch = runtime.current().batches.find(name_or_id)
    if batch is None:
        raise BatchNotFound(f"no batch named or with id {name_or_id!r}")
    return batch


def batch_progress(name_or_id: str) -> BatchProgress:
    """Where a batch stands, summed up by the database: no job of it is read, however large it is."""
    rt = runtime.current()
    batch = find_batch(name_or_id)
    tally = rt.batches.tally(batch.id)
    paused = rt.budgets.paused_summary(batch.id)
    return progress_of(batch, tally, datetime.now(timezone.utc), download_failures(batch.id), paused)


def progress_of(
    batch: BatchView,
    tally: BatchTally,
    now: datetime,
    download_failed: int = 0,
    paused: tuple[int, str | None] = (0, None),
) -> BatchProgress:
    """A batch's progress from its tally: counts, times, units spent and the whole batch's estimate."""
    statuses = tally.statuses
    jobs = sum(s.jobs for s in statuses)
    items = max(batch.item_count, jobs)
    started = tally.first_created or batch.created_at
    ended = tally.last_finished
    finished_all = jobs > 0 and all(s.status.is_final for s in statuses)
    until = ended if finished_all and ended else now
    return BatchProgress(
        batch=batch,
        items=items,
        counts={s.status.value: s.jobs for s in statuses},
        downloaded=sum(s.downloaded for s in statuses),
        elapsed_s=max(0.0, (until - started).total_seconds()),
        cu_spent=tally.spent_by_all,
        cu_estimate=_estimate(statuses, items),
        download_failed=download_failed,
        current_jobs=jobs,
        current_spent=sum(s.spent for s in statuses),
        paused=paused[0],
        paused_reason=paused[1],
    )


def set_batch_budget(name_or_id: str, budget_cu: float | None) -> tuple[BatchView, int]:
    """Set (None: lift) a batch's budget in creative units; its paused items that now fit go on.

    Returns the batch as it is now and how many paused items were sent again.
    """
    if budget_cu is not None and not (budget_cu > 0):
        raise ValueError(f"budget_cu: must be greater than 0, got {budget_cu!r}")
    rt = runtime.current()
    batch = find_batch(name_or_id)
    rt.budgets.set_batch_budget(batch.id, budget_cu)
    resumed = resume_paused(batch_id=batch.id)
    return rt.batches.get(batch.id) or batch, len(resumed)


def download_failures(batch_id: str) -> int:
    """Items of the batch whose images failed to download last time (kept in Redis; 0 without it)."""
    rt = runtime.current()
    if rt.coordination is None:
        return 0
    try:
        return rt.coordination.download_failures(batch_id)
    except redis.RedisError:  # progress is shown without it while Redis does not answer
        return 0


def _estimate(statuses: Sequence[StatusTally], items: int) -> float | None:
    """What the whole batch will cost: each priced item's cost, and their mean for the others."""
    priced = sum(s.priced for s in statuses)
    if not priced:
        return None
    # A final item costs what it spent in the end; one still running what it was charged.
    total = sum(s.spent if s.status.is_final else s.charged for s in statuses)
    # An item that ended without being charged (refused before Scenario took it) costs nothing more.
    unpriced = items - priced - sum(s.jobs - s.priced for s in statuses if s.status.is_final)
    return total + max(0, unpriced) * (total / priced)


def cancel_batch(name_or_id: str) -> BatchCancelReport:
    """Cancel every unfinished job of the batch, on Scenario too; the ones Scenario did not cancel are listed."""
    return cancel_batch_jobs(find_batch(name_or_id).id)


def export_batch(name_or_id: str, out_dir: Path) -> ExportReport:
    """Every finished image of the batch in `out_dir` (fetched if missing), with index.json and index.csv."""
    rt = runtime.current()
    batch = find_batch(name_or_id)
    out_dir = Path(out_dir)
    succeeded = sorted(
        (j for j in _newest_per_item(rt.batches.current_jobs(batch.id).values()) if j.status is JobStatus.SUCCESS),
        key=lambda j: j.item_name or j.id,
    )
    rows: list[IndexRow] = []
    missing: list[str] = []
    history = rt.batches.jobs(batch.id)
    results = download_items(rt.client, [job_assets(job, history) for job in succeeded], out_dir)
    for job, (item, outcome) in zip(succeeded, results, strict=True):
        if isinstance(outcome, DownloadError):
            log.warning("could not export %s: %s", item.name, outcome)
            missing.append(item.name)
            continue
        files = [asdict(r) for r in outcome]
        if files != job.files:  # so the next export keeps these files instead of fetching them again
            rt.batches.record_files(job.id, files)
        rows.extend(_index_rows(job, item.name, outcome))
    json_path, csv_path = write_index(out_dir, batch.name, rows)
    return ExportReport(out_dir, len(rows), len(succeeded) - len(missing), missing, json_path, csv_path)


def _newest_per_item(jobs: Iterable[JobView]) -> list[JobView]:
    """The newest job of each item name: an edited item has a new key, and its old job writes the same files."""
    newest: dict[str, JobView] = {}
    for job in sorted(jobs, key=lambda j: (j.created_at, j.id)):
        newest[job.item_name or job.id] = job
    return list(newest.values())


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
            mime_type=r.mime_type,
            cu_spent=job.cu_spent if job.cu_cost is not None else None,
        )
        for r in records
    ]
