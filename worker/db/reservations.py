"""Moving creative units in and out of the budgets a job holds them in, inside a caller's transaction."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from worker.db.models import Batch, CuDay, Job


def move_units(session: Session, job: Job, delta_cu: float) -> None:
    """Add `delta_cu` (negative: give back) to the counters of the budgets the job counts against."""
    if job.batch_id is not None:
        session.execute(
            update(Batch).where(Batch.id == job.batch_id).values(cu_committed=Batch.cu_committed + delta_cu)
        )
    if job.cu_day is not None:
        session.execute(update(CuDay).where(CuDay.day == job.cu_day).values(committed=CuDay.committed + delta_cu))


def give_back_unsent(session: Session, job_id: str, *, lock: bool) -> None:
    """A job that ended without reaching Scenario holds nothing any more."""
    job = session.get(Job, job_id, with_for_update=lock, populate_existing=True)
    if job is None or job.cu_reserved is None or job.scenario_job_id is not None or not job.status.is_final:
        return
    move_units(session, job, -job.cu_reserved)
    job.cu_reserved = None
