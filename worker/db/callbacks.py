"""The completion callbacks' table: one delivery per job end, its attempts, its dead letters."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from worker.callbacks.body import callback_body, webhook_id_of
from worker.db.models import CallbackDelivery, CallbackStatus, Job, utcnow
from worker.db.session import Database
from worker.db.statements import FINAL_STATUSES
from worker.db.views import _snapshot
from worker.errors import WorkerError


@dataclass(frozen=True)
class CallbackView:
    id: int
    job_id: str
    webhook_id: str
    url: str
    body: str
    status: CallbackStatus
    attempts: int
    last_http_status: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    replayed_at: datetime | None


class CallbackNotFound(WorkerError, LookupError):
    """No delivery has this id."""


class NotReplayable(WorkerError, ValueError):
    """A delivery that is on its way or delivered already: replaying it would send it twice."""


class CallbackRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def record_end(self, job_id: str) -> CallbackView | None:
        """The delivery of this job's end, new and PENDING; None when it has none to make.

        None also when one was recorded already: the unique job id decides, in the database,
        which of two workers recording the same end queues the one delivery.
        """
        try:
            with self._db.session() as session:
                job = session.get(Job, job_id)
                if job is None or not job.status.is_final or not job.callback_url:
                    return None
                if session.scalars(select(CallbackDelivery.id).where(CallbackDelivery.job_id == job_id)).first():
                    return None
                body = callback_body(
                    job_id=job.id,
                    status=job.status.value,
                    scenario_job_id=job.scenario_job_id,
                    asset_ids=list(job.asset_ids or []),
                    error=job.last_error,
                    metadata=dict(job.job_metadata or {}),
                    tags=list(job.tags or []),
                    finished_at=job.finished_at,
                )
                row = CallbackDelivery(
                    job_id=job.id,
                    webhook_id=webhook_id_of(job.id),
                    url=job.callback_url,
                    body=body,
                    status=CallbackStatus.PENDING,
                    attempts=0,
                )
                session.add(row)
                session.flush()
                return _view(row)
        except IntegrityError:
            return None

    def untold_ends(self, *, ended_since: datetime, ended_before: datetime, limit: int = 500) -> builtins.list[str]:
        """Jobs with a callback URL that ended in that window and have no delivery (a worker died between
        the end and its record): their ids, oldest end first."""
        has_delivery = select(CallbackDelivery.id).where(CallbackDelivery.job_id == Job.id).exists()
        query = (
            select(Job.id)
            .where(
                Job.callback_url.is_not(None),
                Job.status.in_(FINAL_STATUSES),
                Job.finished_at >= ended_since,
                Job.finished_at < ended_before,
                ~has_delivery,
            )
            .order_by(Job.finished_at)
            .limit(limit)
        )
        with self._db.session() as session:
            return list(session.scalars(query))

    def stalled(self, *, untouched_since: datetime, limit: int = 500) -> builtins.list[CallbackView]:
        """PENDING deliveries no attempt has touched since then (their message was lost), touched now,
        so that the next look leaves them be while the message sent again runs."""
        now = utcnow()
        with self._db.session() as session:
            query = (
                select(CallbackDelivery)
                .where(CallbackDelivery.status == CallbackStatus.PENDING, CallbackDelivery.updated_at < untouched_since)
                .order_by(CallbackDelivery.updated_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = list(session.scalars(query))
            for row in rows:
                row.updated_at = now
            session.flush()
            return [_view(row) for row in rows]

    def get(self, delivery_id: int) -> CallbackView | None:
        with self._db.session() as session:
            row = session.get(CallbackDelivery, delivery_id)
            return _view(row) if row is not None else None

    def for_job(self, job_id: str) -> CallbackView | None:
        with self._db.session() as session:
            row = session.scalars(select(CallbackDelivery).where(CallbackDelivery.job_id == job_id)).first()
            return _view(row) if row is not None else None

    def list(self, *, status: CallbackStatus | None = None, limit: int = 100) -> builtins.list[CallbackView]:
        """Newest first."""
        query = select(CallbackDelivery).order_by(CallbackDelivery.id.desc()).limit(limit)
        if status is not None:
            query = query.where(CallbackDelivery.status == status)
        with self._db.session() as session:
            return [_view(row) for row in session.scalars(query)]

    def note_attempt(
        self, delivery_id: int, *, status: CallbackStatus, http_status: int | None, error: str | None
    ) -> CallbackView:
        """Count one attempt and where it left the delivery."""
        now = utcnow()
        with self._db.session() as session:
            row = session.get(CallbackDelivery, delivery_id, with_for_update=True)
            if row is None:
                raise CallbackNotFound(f"no callback delivery {delivery_id}")
            row.attempts += 1
            row.status = status
            row.last_http_status = http_status
            row.last_error = error
            row.updated_at = now
            if status is CallbackStatus.DELIVERED:
                row.delivered_at = now
            session.flush()
            return _view(row)

    def replay(self, delivery_id: int) -> CallbackView:
        """A dead (or refused with 410) delivery made PENDING again, for a new round of attempts."""
        with self._db.session() as session:
            row = session.get(CallbackDelivery, delivery_id, with_for_update=True)
            if row is None:
                raise CallbackNotFound(f"no callback delivery {delivery_id}")
            if row.status not in (CallbackStatus.DEAD, CallbackStatus.GONE):
                raise NotReplayable(
                    f"callback delivery {delivery_id} is {row.status.value}; only dead or gone ones are replayed"
                )
            row.status = CallbackStatus.PENDING
            row.replayed_at = utcnow()
            session.flush()
            return _view(row)


def _view(row: CallbackDelivery) -> CallbackView:
    return _snapshot(CallbackView, row)
