"""Reads and idempotent writes of job rows; every method is one short transaction."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Update, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.db.models import DeadLetter, DeadLetterReason, Job, utcnow
from worker.db.session import Database
from worker.db.snapshots import snapshot_values
from worker.db.views import DeadLetterView, JobView, dead_letter_view, job_view
from worker.errors import WorkerError
from worker.states import JobStatus

FINAL_STATUSES = tuple(s for s in JobStatus if s.is_final)
_IN_CHUNKS_OF = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit


class JobNotFound(LookupError):
    """No job row has this id."""


class ScenarioJobTaken(WorkerError):
    """The Scenario job a submit answered with is already held by another row; look again."""

    retryable = True


class AdoptOutcome(StrEnum):
    """What became of an attempt to give a job a Scenario job found in the list."""

    ADOPTED = "adopted"
    TAKEN = "taken"  # another row holds that Scenario job
    ALREADY_SUBMITTED = "already_submitted"  # this row has a Scenario job already


def answer_may_be_lost(error: Mapping[str, Any] | None) -> bool:
    """Whether a failed submit may still have made the job on Scenario (so it must be looked for).

    No answer at all (a connection error or timeout), a 5xx and a 408 may come after
    Scenario made the job; any other answer is Scenario saying it made none.
    """
    if error is None:
        return True
    status = error.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        return bool(error.get("retryable", True))
    return status >= 500 or status == 408


class JobRepository:
    """The jobs table, seen through snapshots (`JobView`)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def create(
        self,
        *,
        model_id: str,
        params: Mapping[str, Any],
        deadline_at: datetime | None = None,
        batch_id: str | None = None,
        item_key: str | None = None,
        item_name: str | None = None,
        tags: Iterable[str] = (),
        job_id: str | None = None,
    ) -> JobView:
        """A new job in CREATED; with an explicit `job_id` that exists already, that job."""
        new_id = job_id or uuid.uuid4().hex
        try:
            with self._db.session() as session:
                if job_id is not None and (existing := session.get(Job, job_id)) is not None:
                    return job_view(existing)
                row = Job(
                    id=new_id,
                    model_id=model_id,
                    params=dict(params),
                    status=JobStatus.CREATED,
                    deadline_at=deadline_at,
                    batch_id=batch_id,
                    item_key=item_key,
                    item_name=item_name,
                    tags=list(tags),
                )
                session.add(row)
                session.flush()
                return job_view(row)
        except IntegrityError:
            # Two callers created the same explicit id at once; the first one stands.
            if job_id is None or (existing_view := self.get(job_id)) is None:
                raise
            return existing_view

    def get(self, job_id: str) -> JobView | None:
        with self._db.session() as session:
            row = session.get(Job, job_id)
            return job_view(row) if row is not None else None

    def get_many(self, ids: Iterable[str]) -> builtins.list[JobView]:
        """The jobs with these ids, in the order given; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, JobView] = {}
        with self._db.session() as session:
            for start in range(0, len(wanted), _IN_CHUNKS_OF):
                chunk = wanted[start : start + _IN_CHUNKS_OF]
                for row in session.scalars(select(Job).where(Job.id.in_(chunk))):
                    found[row.id] = job_view(row)
        return [found[i] for i in wanted if i in found]

    def list(
        self, status: JobStatus | None = None, batch_id: str | None = None, limit: int = 100
    ) -> builtins.list[JobView]:
        """Newest first."""
        query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        if status is not None:
            query = query.where(Job.status == status)
        if batch_id is not None:
            query = query.where(Job.batch_id == batch_id)
        with self._db.session() as session:
            return [job_view(row) for row in session.scalars(query)]

    def count_by_status(self, batch_id: str | None = None) -> dict[JobStatus, int]:
        """Every status (zero when no job has it) -> number of jobs."""
        query = select(Job.status, func.count()).group_by(Job.status)
        if batch_id is not None:
            query = query.where(Job.batch_id == batch_id)
        counts = dict.fromkeys(JobStatus, 0)
        with self._db.session() as session:
            for status, count in session.execute(query):
                counts[status] = count
        return counts

    def find_by_item_key(self, batch_id: str, item_key: str) -> JobView | None:
        """The newest job for this item of this batch (a replay makes a newer one)."""
        query = (
            select(Job)
            .where(Job.batch_id == batch_id, Job.item_key == item_key)
            .order_by(Job.created_at.desc(), Job.id.desc())
            .limit(1)
        )
        with self._db.session() as session:
            row = session.scalars(query).first()
            return job_view(row) if row is not None else None

    def claim_delivery(self, job_id: str, task_id: str) -> int:
        """Count one more delivery of `task_id` for this job; a new task id starts again at 1."""
        statement = (
            _update_jobs()
            .where(Job.id == job_id)
            .values(
                # A NULL last_task_id compares as not equal, so the first delivery counts 1.
                deliveries=case((Job.last_task_id == task_id, Job.deliveries + 1), else_=1),
                last_task_id=task_id,
                updated_at=utcnow(),
            )
            .returning(Job.deliveries)
        )
        return self._update_one(job_id, statement)

    def record_attempt(self, job_id: str, error: dict[str, Any] | None) -> int:
        """One more HTTP submit attempt, about to leave: until its answer is stored, it may be lost."""
        now = utcnow()
        statement = (
            _update_jobs()
            .where(Job.id == job_id)
            .values(attempts=Job.attempts + 1, last_error=error, updated_at=now, unanswered_submit_at=now)
            .returning(Job.attempts)
        )
        return self._update_one(job_id, statement)

    def set_params(self, job_id: str, params: Mapping[str, Any]) -> bool:
        """Replace the inputs of a job not yet sent (defaults applied, a seed chosen) before its submit."""
        statement = (
            _update_jobs()
            .where(Job.id == job_id, Job.scenario_job_id.is_(None), _not_final())
            .values(params=dict(params), updated_at=utcnow())
        )
        return self._update_if(job_id, statement)

    def take_back_attempt(self, job_id: str, error: dict[str, Any] | None) -> None:
        """An attempt that never left this machine (the fleet's budget said wait) does not count."""
        statement = (
            _update_jobs()
            .where(Job.id == job_id, Job.attempts > 0)
            .values(attempts=Job.attempts - 1, last_error=error, updated_at=utcnow(), unanswered_submit_at=None)
        )
        with self._db.session() as session:
            session.execute(statement)

    def record_error(self, job_id: str, error: dict[str, Any] | None) -> None:
        """Keep the error of the attempt `record_attempt` counted before it was sent.

        An error that proves Scenario made no job ends the attempt; one that may hide a
        made job leaves the marker, so the next attempt looks for it first.
        """
        values: dict[str, Any] = {"last_error": error, "updated_at": utcnow()}
        if not answer_may_be_lost(error):
            values["unanswered_submit_at"] = None
        self._update_if(job_id, _update_jobs().where(Job.id == job_id).values(**values))

    def end_search(self, job_id: str, doubt: dict[str, Any] | None = None) -> None:
        """The lost answer was looked for once and not found: clear the marker, keep any doubt as the last error."""
        values: dict[str, Any] = {"unanswered_submit_at": None, "updated_at": utcnow()}
        if doubt is not None:
            values["last_error"] = doubt
        self._update_if(job_id, _update_jobs().where(Job.id == job_id, Job.scenario_job_id.is_(None)).values(**values))

    def adopt(self, job_id: str, scenario_job: Mapping[str, Any]) -> AdoptOutcome:
        """Give the job a Scenario job found in the list, unless another row holds it (checked in this transaction)."""
        scenario_job_id = _scenario_job_id(scenario_job)
        now = utcnow()
        try:
            with self._db.session() as session:
                held = session.scalars(
                    select(Job.id).where(Job.scenario_job_id == scenario_job_id, Job.id != job_id)
                ).first()
                if held is not None:
                    return AdoptOutcome.TAKEN
                first = session.execute(_first_scenario_job(job_id, scenario_job_id, now))
                if first.rowcount != 1:
                    _load(session, job_id)
                    return AdoptOutcome.ALREADY_SUBMITTED
                session.execute(_snapshot_update(job_id, scenario_job, now))
                return AdoptOutcome.ADOPTED
        except IntegrityError:
            # Another row took it between the check and the write: the unique id refused this one.
            return AdoptOutcome.TAKEN

    def take_result(self, job_id: str, scenario_job: Mapping[str, Any]) -> bool:
        """A dead job whose own Scenario job ended in success after all: store that result, mark it SUCCESS."""
        if JobStatus.from_scenario(str(scenario_job.get("status"))) is not JobStatus.SUCCESS:
            return False
        now = utcnow()
        values = {**snapshot_values(scenario_job, now=now), "status": JobStatus.SUCCESS, "finished_at": now}
        statement = (
            _update_jobs()
            .where(Job.id == job_id, Job.status == JobStatus.DEAD, Job.scenario_job_id == scenario_job.get("jobId"))
            .values(**values, updated_at=now, last_error=None)
        )
        return self._update_if(job_id, statement)

    def is_known_scenario_job(self, scenario_job_id: str) -> bool:
        """Whether some job already holds this Scenario job id (so it is no orphan to adopt)."""
        with self._db.session() as session:
            found = session.scalars(select(Job.id).where(Job.scenario_job_id == scenario_job_id)).first()
            return found is not None

    def record_submitted(
        self, job_id: str, scenario_job: Mapping[str, Any], *, cu_cost: float | None = None
    ) -> JobView:
        """Store Scenario's job id and first snapshot; the first id recorded is kept for good.

        `cu_cost` is what the submit answer said the job costs (its `billing` may say it later).
        """
        scenario_job_id = _scenario_job_id(scenario_job)
        now = utcnow()
        try:
            with self._db.session() as session:
                first = session.execute(_first_scenario_job(job_id, scenario_job_id, now))
                # A repeat (same or other id) leaves the row alone: an old answer must not
                # roll back what later polls stored.
                if first.rowcount == 1:
                    update_ = _snapshot_update(job_id, scenario_job, now)
                    if cu_cost is not None and "billing" not in scenario_job:
                        update_ = update_.values(cu_cost=cu_cost)
                    session.execute(update_)
                return job_view(_load(session, job_id))
        except IntegrityError:
            # Only a look-alike job's search can have taken it; the marker stays, so this job looks again.
            raise ScenarioJobTaken(
                f"Scenario job {scenario_job_id} is already held by another job; job {job_id} will look again"
            ) from None

    def apply_snapshot(
        self, job_id: str, scenario_job: Mapping[str, Any], *, expected_poll_seq: int | None = None
    ) -> bool:
        """Store a polled Scenario job object; with `expected_poll_seq`, only if no other poll got there first."""
        statement = _snapshot_update(job_id, scenario_job, utcnow())
        if expected_poll_seq is not None:
            statement = statement.where(Job.poll_seq == expected_poll_seq).values(
                poll_seq=expected_poll_seq + 1, polls=Job.polls + 1
            )
        return self._update_if(job_id, statement)

    def stalled(self, *, untouched_since: datetime, limit: int = 10_000) -> builtins.list[JobView]:
        """Unfinished jobs nothing has written to since that moment, oldest first."""
        with self._db.session() as session:
            rows = session.scalars(
                select(Job).where(_not_final(), Job.updated_at < untouched_since).order_by(Job.updated_at).limit(limit)
            )
            return [job_view(row) for row in rows]

    def advance_poll_seq(self, job_id: str, expected_poll_seq: int) -> bool:
        """Move the poll counter on without a snapshot; False when another poll got there first."""
        statement = (
            _update_jobs()
            .where(Job.id == job_id, Job.poll_seq == expected_poll_seq, _not_final())
            .values(poll_seq=expected_poll_seq + 1)
        )
        return self._update_if(job_id, statement)

    def mark_status(self, job_id: str, status: JobStatus, *, error: dict[str, Any] | None = None) -> bool:
        """Set a status unless the job is already final; returns whether it changed."""
        now = utcnow()
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if status.is_final:
            values["finished_at"] = now
        if error is not None:
            values["last_error"] = error
        statement = _update_jobs().where(Job.id == job_id, _not_final()).values(**values)
        return self._update_if(job_id, statement)

    def dead_letter(
        self,
        job_id: str,
        *,
        reason: DeadLetterReason | str,
        task_name: str,
        payload: Mapping[str, Any],
        error: Mapping[str, Any] | None,
        attempts: int,
        snapshot: Mapping[str, Any] | None = None,
    ) -> DeadLetterView:
        """Give up on a job: one dead letter (the first one stands) and the job marked DEAD, together.

        A job already final on Scenario's side (success, failure, canceled) keeps that status.
        With `snapshot` (the Scenario job that ended it), the job takes Scenario's final state
        in the same transaction, so nobody sees a failed job without its dead letter.
        The stored payload always carries the job's `model_id` and `params` for a replay.
        """
        reason = DeadLetterReason(reason)
        error = dict(error) if error is not None else None
        with self._db.session() as session:
            # The row lock makes a concurrent dead-lettering of the same job wait, then find this letter.
            job = _load(session, job_id, lock=True)
            existing = session.scalars(select(DeadLetter).where(DeadLetter.job_id == job_id)).first()
            if existing is not None:
                return dead_letter_view(existing)
            now = utcnow()
            if snapshot is not None and not job.status.is_final and snapshot.get("jobId") == job.scenario_job_id:
                for column, value in snapshot_values(snapshot, now=now).items():
                    setattr(job, column, value)
            letter = DeadLetter(
                job_id=job_id,
                task_name=task_name,
                payload={"model_id": job.model_id, "params": job.params, **payload},
                reason=reason,
                http_status=_int_or_none((error or {}).get("status")),
                error_code=_str_or_none((error or {}).get("code")),
                error_message=_str_or_none((error or {}).get("message")) or reason.value.replace("_", " "),
                attempts=attempts,
                scenario_job_id=job.scenario_job_id,
                status_history=list(job.status_history),
                created_at=now,
            )
            session.add(letter)
            if not job.status.is_final:
                job.status = JobStatus.DEAD
            job.finished_at = job.finished_at or now
            if error is not None:
                job.last_error = error
            session.flush()
            return dead_letter_view(letter)

    def _update_one(self, job_id: str, statement: Update) -> int:
        with self._db.session() as session:
            value = session.execute(statement).scalar_one_or_none()
        if value is None:
            raise JobNotFound(job_id)
        return value

    def _update_if(self, job_id: str, statement: Update) -> bool:
        with self._db.session() as session:
            if session.execute(statement).rowcount == 1:
                return True
            _load(session, job_id)  # not applied: tell a missing job from a refused update
            return False


def _snapshot_update(job_id: str, scenario_job: Mapping[str, Any], now: datetime) -> Update:
    """UPDATE storing a Scenario job object, never touching a final job nor another Scenario job's row."""
    conditions: list[ColumnElement[bool]] = [Job.id == job_id, _not_final()]
    scenario_job_id = scenario_job.get("jobId")
    if isinstance(scenario_job_id, str):
        conditions.append(or_(Job.scenario_job_id.is_(None), Job.scenario_job_id == scenario_job_id))
    values = snapshot_values(scenario_job, now=now)
    return _update_jobs().where(*conditions).values(updated_at=now, **values)


def _first_scenario_job(job_id: str, scenario_job_id: str, now: datetime) -> Update:
    """UPDATE giving a row its Scenario job, only if it has none yet; its submit is then answered."""
    return (
        _update_jobs()
        .where(Job.id == job_id, Job.scenario_job_id.is_(None))
        .values(scenario_job_id=scenario_job_id, submitted_at=now, updated_at=now, unanswered_submit_at=None)
    )


def _scenario_job_id(scenario_job: Mapping[str, Any]) -> str:
    scenario_job_id = scenario_job.get("jobId")
    if not isinstance(scenario_job_id, str) or not scenario_job_id:
        raise ValueError(f"Scenario job object has no jobId: {dict(scenario_job)!r}")
    return scenario_job_id


def _update_jobs() -> Update:
    # Each session here is fresh and holds no objects to keep in step with the UPDATE.
    return update(Job).execution_options(synchronize_session=False)


def _not_final() -> ColumnElement[bool]:
    return Job.status.not_in(FINAL_STATUSES)


def _load(session: Session, job_id: str, *, lock: bool = False) -> Job:
    query = select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise JobNotFound(job_id)
    return row


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
