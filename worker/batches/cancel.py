"""Canceling a batch: every unfinished job of it, through the one cancel function."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from worker import runtime
from worker.db.jobs import JobNotFound
from worker.db.views import JobView
from worker.producer import CancelOutcome, cancel_job
from worker.scenario.errors import ScenarioError

log = logging.getLogger("worker.batches")


@dataclass(frozen=True)
class CancelFailure:
    """A job Scenario did not cancel (it refused, or could not be reached): it stays watched."""

    job_id: str
    item_name: str | None
    scenario_job_id: str | None
    error: str


@dataclass(frozen=True)
class BatchCancelReport:
    canceled: int
    failures: list[CancelFailure] = field(default_factory=list)
    # Jobs whose submit was in flight: their senders cancel them on Scenario once it answers.
    requested: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


def cancel_jobs(jobs: list[JobView]) -> BatchCancelReport:
    """`producer.cancel_job` for each unfinished job; the ones that could not be canceled are listed."""
    canceled, requested, failures = 0, 0, []
    for job in jobs:
        if job.is_final:
            continue
        try:
            # A submit in flight is not waited for: its sender carries the cancel out.
            result = cancel_job(job.id, wait_s=0)
        except JobNotFound:
            continue
        except ScenarioError as exc:
            log.warning("could not cancel job_id=%s scenario_job_id=%s: %s", job.id, job.scenario_job_id, exc)
            failures.append(CancelFailure(job.id, job.item_name, job.scenario_job_id, str(exc)))
            continue
        if result.outcome in (CancelOutcome.CANCELED, CancelOutcome.CANCELED_LOCALLY):
            canceled += 1
        elif result.outcome is CancelOutcome.REQUESTED:
            requested += 1
    return BatchCancelReport(canceled, failures, requested)


def cancel_batch_jobs(batch_id: str) -> BatchCancelReport:
    """Mark the batch canceled, then cancel every unfinished job of it, superseded versions included."""
    rt = runtime.current()
    rt.batches.mark_canceled(batch_id)
    return cancel_jobs(rt.batches.jobs(batch_id))
