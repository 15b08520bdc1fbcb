"""Job rows and their Scenario job: the submit attempt, its answer, a lost answer's search.

Identity rules live here: a Scenario job belongs to one row only (checked in the
transaction that records it), and a submit whose answer may be lost is marked until
an answer or a search settles it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Update, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.db.claims import Claim, SubmitClaims, holds, release_on_record
from worker.db.models import Job, utcnow
from worker.db.snapshots import snapshot_values
from worker.db.statements import (
    first_scenario_job,
    load_job,
    not_final,
    scenario_job_id_of,
    snapshot_update,
    update_jobs,
)
from worker.db.views import JobView, job_view
from worker.errors import WorkerError
from worker.observe import metrics
from worker.states import JobStatus


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


def answer_may_still_come(error: Mapping[str, Any] | None) -> bool:
    """Whether Scenario may still make the job of a submit whose answer was lost.

    No answer at all (a crash, a timeout, a dropped connection) or a gateway's 502 or 504
    means the request may still be at work behind them. Scenario's own answer, even a 5xx,
    means it is done with the request: a job it made exists already and can be looked for.
    """
    if error is None:
        return True
    status = error.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        return True
    return status in (502, 504)


class SubmissionRecords(SubmitClaims):
    """The submit side of a job row."""

    def record_attempt(self, job_id: str, error: dict[str, Any] | None) -> int:
        """One more HTTP submit attempt, about to leave: until its answer is stored, it may be lost."""
        now = utcnow()
        statement = (
            update_jobs()
            .where(Job.id == job_id)
            .values(attempts=Job.attempts + 1, last_error=error, updated_at=now, unanswered_submit_at=now)
            .returning(Job.attempts)
        )
        return self._update_one(job_id, statement)

    def take_back_attempt(self, job_id: str, error: dict[str, Any] | None, claim: Claim | None = None) -> None:
        """An attempt that never left this machine (the fleet's budget said wait) does not count.

        With `claim`, only while it is still the row's: a lapsed sender must not clear the marker
        of a submit another sender has in flight.
        """
        who = holds(claim) if claim is not None else Job.id == job_id
        statement = (
            update_jobs()
            .where(who, Job.attempts > 0)
            .values(attempts=Job.attempts - 1, last_error=error, updated_at=utcnow(), unanswered_submit_at=None)
        )
        with self._db.session() as session:
            session.execute(statement)

    def record_error(self, job_id: str, error: dict[str, Any] | None, claim: Claim | None = None) -> None:
        """Keep the error of the attempt `record_attempt` counted before it was sent.

        An error that proves Scenario made no job ends the attempt; one that may hide a
        made job leaves the marker, so the next attempt looks for it first.
        """
        values: dict[str, Any] = {"last_error": error, "updated_at": utcnow()}
        if not answer_may_be_lost(error):
            values["unanswered_submit_at"] = None
        who = holds(claim) if claim is not None else Job.id == job_id
        self._update_if(job_id, update_jobs().where(who).values(**values))

    def end_search(self, job_id: str, doubt: dict[str, Any] | None = None) -> None:
        """The lost answer was looked for once and not found: clear the marker, keep any doubt as the last error."""
        values: dict[str, Any] = {"unanswered_submit_at": None, "updated_at": utcnow()}
        if doubt is not None:
            values["last_error"] = doubt
        self._update_if(job_id, update_jobs().where(Job.id == job_id, Job.scenario_job_id.is_(None)).values(**values))

    def adopt(self, job_id: str, scenario_job: Mapping[str, Any]) -> AdoptOutcome:
        """Give the job a Scenario job found in the list, unless another row holds it (checked in this transaction)."""
        scenario_job_id = scenario_job_id_of(scenario_job)
        now = utcnow()
        try:
            with self._db.session() as session:
                held = session.scalars(
                    select(Job.id).where(Job.scenario_job_id == scenario_job_id, Job.id != job_id)
                ).first()
                if held is not None:
                    return AdoptOutcome.TAKEN
                first = session.execute(first_scenario_job(job_id, scenario_job_id, now))
                if first.rowcount != 1:
                    load_job(session, job_id)
                    return AdoptOutcome.ALREADY_SUBMITTED
                row = session.execute(snapshot_update(job_id, scenario_job, now).returning(Job.batch_id)).first()
        except IntegrityError:
            # Another row took it between the check and the write: the unique id refused this one.
            return AdoptOutcome.TAKEN
        if row is not None:
            _count_first_snapshot(scenario_job, row.batch_id, now)
        return AdoptOutcome.ADOPTED

    def take_result(self, job_id: str, scenario_job: Mapping[str, Any]) -> bool:
        """A dead job whose own Scenario job ended in success after all: store that result, mark it SUCCESS."""
        if JobStatus.from_scenario(str(scenario_job.get("status"))) is not JobStatus.SUCCESS:
            return False
        now = utcnow()
        values = {**snapshot_values(scenario_job, now=now), "status": JobStatus.SUCCESS, "finished_at": now}
        statement = (
            update_jobs()
            .where(Job.id == job_id, Job.status == JobStatus.DEAD, Job.scenario_job_id == scenario_job.get("jobId"))
            .values(**values, updated_at=now, last_error=None)
        )
        row = self._update_returning(job_id, statement, Job.batch_id)
        if row is None:
            return False
        metrics.job_moved(JobStatus.SUCCESS, row.batch_id)
        return True

    def is_known_scenario_job(self, scenario_job_id: str) -> bool:
        """Whether some job already holds this Scenario job id (so it is no orphan to adopt)."""
        with self._db.session() as session:
            found = session.scalars(select(Job.id).where(Job.scenario_job_id == scenario_job_id)).first()
            return found is not None

    def record_submitted(
        self,
        job_id: str,
        scenario_job: Mapping[str, Any],
        *,
        cu_cost: float | None = None,
        claim: Claim | None = None,
    ) -> JobView:
        """Store Scenario's job id and first snapshot; the first id recorded is kept for good.

        The answer is stored whoever sent it, as long as the row holds no Scenario job yet:
        it is the truth about what was paid for. A second Scenario job for a row that holds
        one is not stored; the caller sees the other id and cancels its own on Scenario.
        With `claim`, the claim is given up in the same statement (only by its own holder).
        `cu_cost` is what the submit answer said the job costs (its `billing` may say it later).
        """
        scenario_job_id = scenario_job_id_of(scenario_job)
        now = utcnow()
        first_statement = first_scenario_job(job_id, scenario_job_id, now)
        if claim is not None:
            first_statement = first_statement.values(**release_on_record(claim.fence))
        cost = {"cu_cost": cu_cost} if cu_cost is not None and "billing" not in scenario_job else {}
        try:
            # The usual answer, for an unfinished row with no Scenario job yet, is stored and
            # read back in one statement; anything else takes the careful way below.
            with self._db.one_statement() as session:
                snapshot = snapshot_values(scenario_job, now=now)
                merged = first_statement.where(not_final()).values(**snapshot, **cost).returning(Job)
                row = session.execute(merged).scalar_one_or_none()
                view = None if row is None else job_view(row)
            recorded = view is not None
            if view is None:
                with self._db.session() as session:
                    recorded = self._record_the_careful_way(session, first_statement, job_id, scenario_job, now, cost)
                    if not recorded and claim is not None:
                        session.execute(update_jobs().where(holds(claim)).values(claim_token=None, claim_until=None))
                    view = job_view(load_job(session, job_id))
        except IntegrityError:
            # Only a look-alike job's search can have taken it; the marker stays, so this job looks again.
            raise ScenarioJobTaken(
                f"Scenario job {scenario_job_id} is already held by another job; job {job_id} will look again"
            ) from None
        if recorded:
            _count_first_snapshot(scenario_job, view.batch_id, now)
            metrics.submitted(view.created_at, now)
            metrics.creative_units_spent(view.cu_cost)
        return view

    @staticmethod
    def _record_the_careful_way(
        session: Session,
        first_statement: Update,
        job_id: str,
        scenario_job: Mapping[str, Any],
        now: datetime,
        cost: Mapping[str, Any],
    ) -> bool:
        """The id first, then the snapshot only where it may go (a final row keeps its end)."""
        # A repeat (same or other id) leaves the row alone: an old answer must not
        # roll back what later polls stored.
        if session.execute(first_statement).rowcount != 1:
            return False
        session.execute(snapshot_update(job_id, scenario_job, now).values(**cost))
        return True


def _count_first_snapshot(scenario_job: Mapping[str, Any], batch_id: str | None, now: datetime) -> None:
    """A row that had no Scenario job (so it was CREATED) took the status of its first one."""
    status = JobStatus.from_scenario(str(scenario_job.get("status")))
    if status is not None:
        metrics.job_moved(status, batch_id)
        if status.is_final:
            metrics.ended_on_scenario(scenario_job, now)
