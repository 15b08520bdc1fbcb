"""Who may send a job now, decided by its row: a fenced claim, a cancel that competes for the
same row, and the number of the live chain of submit messages.

Every decision is one conditional UPDATE, so the database settles each race: two senders
cannot both hold a job, a cancel either lands before a send (nothing leaves) or becomes a
request the sender carries out, and a sender whose claim lapsed and was taken over finds
that its fence no longer matches and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Update, and_, bindparam, case, func, or_

from worker.db.models import Job, utcnow
from worker.db.reservations import give_back_unsent
from worker.db.statements import RowWriter, load_job, not_final, update_jobs
from worker.db.views import JobView, job_view
from worker.observe import metrics
from worker.states import JobStatus

CANCELED_BY_REQUEST = {"status": None, "code": "CANCELED", "message": "canceled on request"}


@dataclass(frozen=True)
class Claim:
    """The right to send one job, held until `until` unless renewed; `fence` names this holder."""

    job_id: str
    token: str
    fence: int
    # The row as the claim left it (read back by the claiming statement), for the sender's checks.
    job: JobView | None = field(default=None, compare=False, repr=False)


class CancelStep(StrEnum):
    """What a cancel did to the row, before any word with Scenario."""

    ENDED = "ended"  # no submit held the row and none was in doubt: nothing was or will be sent
    REQUESTED = "requested"  # a submit holds the row or its answer is lost: the sender carries it out
    ON_SCENARIO = "on_scenario"  # the job has a Scenario job: cancel it there
    FINAL = "final"  # nothing to cancel


def unclaimed(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    return or_(Job.claim_token.is_(None), Job.claim_until.is_(None), Job.claim_until < now)


def due(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """The job's `not_before` has come, or it has none."""
    return or_(Job.not_before.is_(None), Job.not_before <= now)


def holds(claim: Claim) -> ColumnElement[bool]:
    return and_(Job.id == claim.job_id, Job.claim_token == claim.token, Job.claim_fence == claim.fence)


class SubmitClaims(RowWriter):
    """The claim side of a job row."""

    def claim_submit(self, job_id: str, token: str, *, hold_s: float) -> Claim | None:
        """Take the row for a submit, unless another sender holds it, it needs no submit, or it is not due yet.

        The schedule is kept here, not only in the message's countdown: a message that comes
        early (a recovery's, a woken waiter's, a broker's redelivery) cannot send before `not_before`.
        """
        now = utcnow()
        statement = (
            update_jobs()
            .where(Job.id == job_id, not_final(), Job.scenario_job_id.is_(None), unclaimed(now), due(now))
            .values(
                claim_token=token,
                claim_fence=Job.claim_fence + 1,
                claim_until=now + timedelta(seconds=hold_s),
                updated_at=now,
            )
            .returning(Job)
        )
        with self._db.one_statement() as session:
            row = session.execute(statement).scalar_one_or_none()
            return None if row is None else Claim(job_id, token, row.claim_fence, job_view(row))

    def claim_delivered_submit(
        self, job_id: str, token: str, *, seq: int, delivery: str, hold_s: float
    ) -> tuple[Claim, int] | None:
        """`claim_submit` for a submit message of chain `seq`, counting its delivery in the same
        statement (as `claim_delivery` does); the claim and the delivery count, or None (nothing
        claimed or counted) when the claim does not pass or the chain is not the row's live one.

        One statement instead of a read, a count and a claim: the common submit (a first one, or
        a waiter a freed slot woke) reaches Scenario two round trips sooner.
        """
        now = utcnow()
        values = {
            "job_id": job_id,
            "seq": seq,
            "now": now,
            "until": now + timedelta(seconds=hold_s),
            "token": token,
            "delivery": delivery,
        }
        with self._db.one_statement() as session:
            row = session.execute(_claim_delivered_submit(), values).scalar_one_or_none()
            if row is None:
                return None
            return Claim(job_id, token, row.claim_fence, job_view(row)), row.deliveries

    def open_send(self, claim: Claim, *, hold_s: float) -> int | None:
        """The last check before money is spent, in the statement that counts the attempt.

        Passes only while this claim is the row's, no cancel was asked for and the job is
        unsent; the claim then holds for the whole request (`hold_s`), and the attempt is
        marked unanswered until its answer is stored. Returns the attempt's number, or None.
        """
        now = utcnow()
        values = {
            "job_id": claim.job_id,
            "token": claim.token,
            "fence": claim.fence,
            "now": now,
            "until": now + timedelta(seconds=hold_s),
        }
        with self._db.one_statement() as session:
            return session.execute(_open_send(), values).scalar_one_or_none()

    def release_claim(self, claim: Claim) -> bool:
        """Give the row up (the step ended, or waits); a lapsed claim taken over is left to its new holder."""
        statement = update_jobs().where(holds(claim)).values(claim_token=None, claim_until=None)
        with self._db.one_statement() as session:
            return session.execute(statement).rowcount == 1

    def renew_claim(self, claim: Claim, *, hold_s: float) -> bool:
        """Hold the row a while longer between steps; False when the claim was lost."""
        now = utcnow()
        statement = update_jobs().where(holds(claim), not_final()).values(claim_until=now + timedelta(seconds=hold_s))
        with self._db.one_statement() as session:
            return session.execute(statement).rowcount == 1

    def end_before_sending(self, claim: Claim | None, job_id: str, *, error: dict[str, Any] | None = None) -> bool:
        """Mark the job CANCELED with nothing on Scenario: by its claim holder, or by a cancel finding it free."""
        now = utcnow()
        who = holds(claim) if claim is not None else and_(Job.id == job_id, unclaimed(now))
        statement = (
            update_jobs()
            .where(who, not_final(), Job.scenario_job_id.is_(None), Job.unanswered_submit_at.is_(None))
            .values(
                status=JobStatus.CANCELED,
                finished_at=now,
                updated_at=now,
                last_error=error or CANCELED_BY_REQUEST,
                cancel_requested_at=func.coalesce(Job.cancel_requested_at, now),
                claim_token=None,
                claim_until=None,
            )
            .returning(Job.batch_id)
        )
        with self._db.session() as session:
            row = session.execute(statement).first()
            if row is None:
                return False
            give_back_unsent(session, job_id, lock=False)  # the row is ours in this transaction already
        metrics.job_moved(JobStatus.CANCELED, row.batch_id)
        return True

    def request_cancel(self, job_id: str) -> CancelStep:
        """A cancel competing for the row: it ends a job no submit holds, or leaves a request the sender carries out."""
        if self.end_before_sending(None, job_id):
            return CancelStep.ENDED
        now = utcnow()
        # Noted on a job Scenario holds too, so its watcher records Scenario's "canceled" as asked for.
        statement = (
            update_jobs()
            .where(Job.id == job_id, not_final())
            .values(cancel_requested_at=func.coalesce(Job.cancel_requested_at, now), updated_at=now)
            .returning(Job.scenario_job_id)
        )
        with self._db.session() as session:
            row = session.execute(statement).first()
            if row is None:
                load_job(session, job_id)  # raises JobNotFound for an unknown id
                return CancelStep.FINAL
        return CancelStep.REQUESTED if row[0] is None else CancelStep.ON_SCENARIO

    def touch_waiter(self, job_id: str, seq: int) -> bool:
        """A job waiting for a slot looked again in chain `seq`: True (and the row touched, so the
        recovery does not take it for lost) while it is unsent, not final, with no cancel asked
        for and that chain still live."""
        statement = (
            update_jobs()
            .where(
                Job.id == job_id,
                Job.submit_seq == seq,
                not_final(),
                Job.scenario_job_id.is_(None),
                Job.cancel_requested_at.is_(None),
            )
            .values(updated_at=utcnow())
        )
        with self._db.one_statement() as session:
            return session.execute(statement).rowcount == 1

    def touch_waiting(self, job_ids: Iterable[str]) -> int:
        """Jobs the fleet's waiting list holds (a parked batch item has no message to touch them):
        touched in one statement, so the recovery leaves them be for another while. Returns how many."""
        wanted = list(dict.fromkeys(job_ids))
        if not wanted:
            return 0
        statement = (
            update_jobs()
            .where(Job.id.in_(wanted), not_final(), Job.scenario_job_id.is_(None))
            .values(updated_at=utcnow())
        )
        with self._db.one_statement() as session:
            return session.execute(statement).rowcount

    def next_submit_seqs(self, job_ids: Iterable[str]) -> dict[str, tuple[int, str | None]]:
        """`next_submit_seq` for several jobs in one statement (the waiters freed slots let in at once).

        Jobs that need no submit any more are left out.
        """
        wanted = list(dict.fromkeys(job_ids))
        if not wanted:
            return {}
        statement = (
            update_jobs()
            .where(Job.id.in_(wanted), not_final(), Job.scenario_job_id.is_(None))
            .values(submit_seq=Job.submit_seq + 1, updated_at=utcnow())
            .returning(Job.id, Job.submit_seq, Job.batch_id)
        )
        with self._db.one_statement() as session:
            rows = {row[0]: (row[1], row[2]) for row in session.execute(statement)}
        return {job_id: rows[job_id] for job_id in wanted if job_id in rows}

    def next_submit_seq(self, job_id: str) -> tuple[int, str | None] | None:
        """Start a new chain of submit messages for an unsent job; older chains' messages are dropped.

        Returns the chain's number and the job's batch (for its lane), or None when the job
        needs no submit (final, or already on Scenario). Counts as a touch for the recovery.
        """
        statement = (
            update_jobs()
            .where(Job.id == job_id, not_final(), Job.scenario_job_id.is_(None))
            .values(submit_seq=Job.submit_seq + 1, updated_at=utcnow())
            .returning(Job.submit_seq, Job.batch_id)
        )
        with self._db.one_statement() as session:
            row = session.execute(statement).first()
        return None if row is None else (row[0], row[1])


# The two statements every send makes are built once, with their values as parameters: building
# and keying a statement like these anew cost a third of a millisecond each time.


def _at(name: str) -> Any:
    return bindparam(name, type_=Job.updated_at.type)


@cache
def _claim_delivered_submit() -> Update:
    now = _at("now")
    delivery = bindparam("delivery", type_=Job.last_task_id.type)
    return (
        update_jobs()
        .where(
            Job.id == bindparam("job_id"),
            Job.submit_seq == bindparam("seq"),
            not_final(),
            Job.scenario_job_id.is_(None),
            unclaimed(now),
            due(now),
        )
        .values(
            claim_token=bindparam("token"),
            claim_fence=Job.claim_fence + 1,
            claim_until=_at("until"),
            deliveries=case((Job.last_task_id == delivery, Job.deliveries + 1), else_=1),
            last_task_id=delivery,
            updated_at=now,
        )
        .returning(Job)
    )


@cache
def _open_send() -> Update:
    holder = and_(
        Job.id == bindparam("job_id"),
        Job.claim_token == bindparam("token"),
        Job.claim_fence == bindparam("fence"),
    )
    return (
        update_jobs()
        .where(holder, not_final(), Job.scenario_job_id.is_(None), Job.cancel_requested_at.is_(None))
        .values(
            attempts=Job.attempts + 1,
            last_error=None,
            unanswered_submit_at=_at("now"),
            claim_until=_at("until"),
            updated_at=_at("now"),
        )
        .returning(Job.attempts)
    )


def release_on_record(fence: int) -> dict[str, Any]:
    """Values that give up the claim in the statement recording the answer, only for its own holder."""
    return {
        "claim_token": case((Job.claim_fence == fence, None), else_=Job.claim_token),
        "claim_until": case((Job.claim_fence == fence, None), else_=Job.claim_until),
    }
