"""Frozen snapshots of rows, so that callers never hold a live ORM object or a session."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

from worker.db.models import Batch, BatchItem, DeadLetter, DeadLetterReason, Job
from worker.states import JobStatus


@dataclass(frozen=True)
class JobView:
    id: str
    scenario_job_id: str | None
    model_id: str
    params: dict[str, Any]
    status: JobStatus
    scenario_status: str | None
    progress: float
    status_history: list[Any]
    asset_ids: list[Any]
    attempts: int
    deliveries: int
    last_task_id: str | None
    poll_seq: int
    polls: int
    last_error: dict[str, Any] | None
    batch_id: str | None
    item_key: str | None
    item_name: str | None
    tags: list[Any]
    files: list[Any]
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None
    cu_cost: float | None = None
    cu_refunded: float | None = None
    unanswered_submit_at: datetime | None = None
    claim_token: str | None = None
    claim_fence: int = 0
    claim_until: datetime | None = None
    cancel_requested_at: datetime | None = None
    submit_seq: int = 0
    cu_reserved: float | None = None
    paused_reason: str | None = None
    # The caller's options (worker.options.JobOptions).
    idempotency_key: str | None = None
    request_digest: str | None = None
    job_metadata: dict[str, Any] = field(default_factory=dict)
    priority: int = 5
    not_before: datetime | None = None
    callback_url: str | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """The caller's metadata (stored as `job_metadata`: the name is taken on the table's class)."""
        return self.job_metadata

    @property
    def is_paused(self) -> bool:
        return self.paused_reason is not None and not self.status.is_final

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def cu_spent(self) -> float:
        """Creative units this job cost in the end: what was charged less what was given back."""
        return max(0.0, (self.cu_cost or 0.0) - (self.cu_refunded or 0.0))


@dataclass(frozen=True)
class DeadLetterView:
    id: int
    job_id: str
    task_name: str
    payload: dict[str, Any]
    reason: DeadLetterReason
    http_status: int | None
    error_code: str | None
    error_message: str
    attempts: int
    scenario_job_id: str | None
    status_history: list[Any]
    created_at: datetime
    replayed_at: datetime | None
    replayed_job_id: str | None


V = TypeVar("V")


def _snapshot(view: type[V], row: object) -> V:
    return view(**{f.name: getattr(row, f.name) for f in fields(view)})  # type: ignore[arg-type]


def job_view(row: Job) -> JobView:
    return _snapshot(JobView, row)


def dead_letter_view(row: DeadLetter) -> DeadLetterView:
    return _snapshot(DeadLetterView, row)


@dataclass(frozen=True)
class BatchView:
    id: str
    name: str
    source: str
    out_dir: str | None
    item_count: int
    created_at: datetime
    updated_at: datetime
    canceled_at: datetime | None
    budget_cu: float | None = None
    cu_committed: float = 0.0


def batch_view(row: Batch) -> BatchView:
    return _snapshot(BatchView, row)


@dataclass(frozen=True)
class BatchItemView:
    batch_id: str
    name: str
    item_key: str
    job_id: str
    claimed_at: datetime


def batch_item_view(row: BatchItem) -> BatchItemView:
    return _snapshot(BatchItemView, row)
