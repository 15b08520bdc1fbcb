"""The statements and row loads every jobs repository shares: no policy, just safe SQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Update, bindparam, or_, select, update
from sqlalchemy.orm import Session

from worker.db.models import Job
from worker.db.session import Database
from worker.db.snapshots import snapshot_values
from worker.errors import JobNotFound
from worker.states import JobStatus

FINAL_STATUSES = tuple(s for s in JobStatus if s.is_final)


class RowWriter:
    """A repository of job rows: each write one short transaction, a refused one told from a missing row."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def _update_one(self, job_id: str, statement: Update) -> int:
        with self._db.one_statement() as session:
            value = session.execute(statement).scalar_one_or_none()
        if value is None:
            raise JobNotFound(job_id)
        return value

    def _update_if(self, job_id: str, statement: Update) -> bool:
        with self._db.one_statement() as session:
            if session.execute(statement).rowcount == 1:
                return True
            load_job(session, job_id)  # not applied: tell a missing job from a refused update
            return False

    def _update_returning(self, job_id: str, statement: Update, *columns: Any) -> Row[Any] | None:
        """`_update_if` that also reads `columns` of the row it changed (in the same statement); None if refused."""
        with self._db.one_statement() as session:
            row = session.execute(statement.returning(*columns)).first()
            if row is None:
                load_job(session, job_id)
            return row


def snapshot_update(job_id: str, scenario_job: Mapping[str, Any], now: datetime) -> Update:
    """UPDATE storing a Scenario job object, never touching a final job nor another Scenario job's row."""
    conditions: list[ColumnElement[bool]] = [Job.id == job_id, not_final()]
    scenario_job_id = scenario_job.get("jobId")
    if isinstance(scenario_job_id, str):
        conditions.append(or_(Job.scenario_job_id.is_(None), Job.scenario_job_id == scenario_job_id))
    values = snapshot_values(scenario_job, now=now)
    return update_jobs().where(*conditions).values(updated_at=now, **values)


def first_scenario_job(job_id: str, scenario_job_id: str, now: datetime) -> Update:
    """UPDATE giving a row its Scenario job, only if it has none yet; its submit is then answered."""
    return (
        update_jobs()
        .where(Job.id == job_id, Job.scenario_job_id.is_(None))
        .values(scenario_job_id=scenario_job_id, submitted_at=now, updated_at=now, unanswered_submit_at=None)
    )


def scenario_job_id_of(scenario_job: Mapping[str, Any]) -> str:
    scenario_job_id = scenario_job.get("jobId")
    if not isinstance(scenario_job_id, str) or not scenario_job_id:
        raise ValueError(f"Scenario job object has no jobId: {dict(scenario_job)!r}")
    return scenario_job_id


def update_jobs() -> Update:
    # Each session here is fresh and holds no objects to keep in step with the UPDATE.
    return update(Job).execution_options(synchronize_session=False)


def not_final() -> ColumnElement[bool]:
    # Literals, not parameters: the statement then matches the partial index of unfinished jobs
    # (models.UNFINISHED_PREDICATE) even in a plan PostgreSQL made once for any parameters.
    finals = bindparam(None, [s.value for s in FINAL_STATUSES], expanding=True, literal_execute=True)
    return Job.status.not_in(finals)


def load_job(session: Session, job_id: str, *, lock: bool = False) -> Job:
    query = select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise JobNotFound(job_id)
    return row
