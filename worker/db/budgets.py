"""Creative units held against budgets: a batch's `budget_cu` and the fleet's budget per UTC day.

Every job reserves what it is expected to cost before its request may leave, by conditional
UPDATEs of the budgets' counters in one transaction: the database orders concurrent senders, so
two workers can never both take the last units (on PostgreSQL the second UPDATE waits for the
first and checks the condition again against the committed row; SQLite runs one writer at a time).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.db.claims import Claim, holds
from worker.db.models import Batch, CuDay, Job
from worker.db.reservations import give_back_unsent, move_units
from worker.db.session import Database
from worker.db.statements import not_final, update_jobs
from worker.db.views import JobView, job_view

# Counters are sums of floats: a budget met exactly must not be refused for a rounding error.
_SLACK_CU = 1e-6


def utc_day(now: datetime | None = None) -> str:
    """The UTC day a daily budget counts against, as YYYY-MM-DD."""
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Refusal:
    """Which budget a job would pass, and by how much; `reason` is what people are shown."""

    budget: str  # "batch" or "daily"
    limit_cu: float
    committed_cu: float
    needed_cu: float

    @property
    def reason(self) -> str:
        where = "the batch's budget" if self.budget == "batch" else "the fleet's daily budget"
        return (
            f"waiting for {where}: {self.committed_cu:g} of {self.limit_cu:g} CU committed, "
            f"this job needs {self.needed_cu:g}; raise the budget to go on"
        )


class BudgetLedger:
    def __init__(self, database: Database) -> None:
        self._db = database

    def reserve(self, claim: Claim, *, cu: float, batch_id: str | None, daily_limit_cu: float) -> Refusal | None:
        """Hold `cu` for the claimed job in every budget that applies, or in none; None when held.

        A job that holds a reservation already (a retry after a wait) holds it still.
        """
        day = utc_day()
        with self._db.session() as session:
            job = session.get(Job, claim.job_id)
            if job is None or job.cu_reserved is not None:
                return None
            if batch_id is not None:
                taken = session.execute(
                    update(Batch)
                    .where(Batch.id == batch_id)
                    .where((Batch.budget_cu.is_(None)) | (Batch.cu_committed + cu <= Batch.budget_cu + _SLACK_CU))
                    .values(cu_committed=Batch.cu_committed + cu)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if taken != 1:
                    refusal = self._batch_refusal(session, batch_id, cu)
                    session.rollback()
                    return refusal
            if daily_limit_cu > 0:
                self._ensure_day(session, day)
                taken = session.execute(
                    update(CuDay)
                    .where(CuDay.day == day, CuDay.committed + cu <= daily_limit_cu + _SLACK_CU)
                    .values(committed=CuDay.committed + cu)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if taken != 1:
                    committed = session.scalar(select(CuDay.committed).where(CuDay.day == day)) or 0.0
                    session.rollback()
                    return Refusal("daily", daily_limit_cu, committed, cu)
            held = session.execute(
                update_jobs().where(holds(claim), not_final()).values(cu_reserved=cu, cu_day=day, paused_reason=None)
            ).rowcount
            if held != 1:
                session.rollback()  # the claim lapsed: the next holder reserves for itself
            return None

    def pause(self, claim: Claim, reason: str) -> bool:
        """Leave the claimed job waiting, with the reason shown, until a budget is raised."""
        statement = update_jobs().where(holds(claim), not_final()).values(paused_reason=reason[:300])
        with self._db.session() as session:
            return session.execute(statement).rowcount == 1

    def settle(self, job_id: str, cost_cu: float | None) -> None:
        """Scenario's price replaces the estimate in every budget the job holds."""
        if cost_cu is None:
            return
        with self._db.session() as session:
            job = session.get(Job, job_id, with_for_update=not self._db.is_sqlite)
            if job is None or job.cu_reserved is None or job.cu_reserved == cost_cu:
                return
            move_units(session, job, cost_cu - job.cu_reserved)
            job.cu_reserved = cost_cu

    def release_unsent(self, job_id: str) -> None:
        """Give back what a job held when it ended without reaching Scenario."""
        with self._db.session() as session:
            give_back_unsent(session, job_id, lock=not self._db.is_sqlite)

    def set_batch_budget(self, batch_id: str, budget_cu: float | None) -> None:
        """Set (or lift, with None) a batch's budget, counting what its jobs already hold or cost.

        The batch's row is locked first: a reservation committed before is in the count, and
        one that comes after waits for this and counts against the new budget.
        """
        held = case(
            (Job.cu_reserved.is_not(None), Job.cu_reserved),
            (Job.scenario_job_id.is_not(None), func.coalesce(Job.cu_cost, 0.0)),
            else_=0.0,
        )
        with self._db.session() as session:
            session.execute(select(Batch.id).where(Batch.id == batch_id).with_for_update())
            committed = session.scalar(select(func.coalesce(func.sum(held), 0.0)).where(Job.batch_id == batch_id))
            session.execute(
                update(Batch).where(Batch.id == batch_id).values(budget_cu=budget_cu, cu_committed=committed or 0.0)
            )

    def paused(self, *, batch_id: str | None = None, limit: int = 1_000) -> builtins.list[JobView]:
        """Jobs waiting for a budget, oldest first (of one batch, or of all)."""
        query = select(Job).where(Job.paused_reason.is_not(None), not_final())
        if batch_id is not None:
            query = query.where(Job.batch_id == batch_id)
        with self._db.session() as session:
            return [job_view(row) for row in session.scalars(query.order_by(Job.created_at).limit(limit))]

    def paused_summary(self, batch_id: str) -> tuple[int, str | None]:
        """How many of the batch's jobs wait for a budget, and one of their reasons."""
        query = select(func.count(), func.max(Job.paused_reason)).where(
            Job.batch_id == batch_id, Job.paused_reason.is_not(None), not_final()
        )
        with self._db.session() as session:
            count, reason = session.execute(query).one()
            return int(count), reason

    def day_committed(self, day: str | None = None) -> float:
        with self._db.session() as session:
            return session.scalar(select(CuDay.committed).where(CuDay.day == (day or utc_day()))) or 0.0

    def _batch_refusal(self, session: Session, batch_id: str, cu: float) -> Refusal | None:
        row = session.execute(select(Batch.budget_cu, Batch.cu_committed).where(Batch.id == batch_id)).first()
        if row is None or row.budget_cu is None:
            return None  # the batch is gone: nothing to hold against
        return Refusal("batch", row.budget_cu, row.cu_committed, cu)

    def _ensure_day(self, session: Session, day: str) -> None:
        dialect = sqlite if self._db.is_sqlite else postgresql
        session.execute(dialect.insert(CuDay).values(day=day, committed=0.0).on_conflict_do_nothing())
