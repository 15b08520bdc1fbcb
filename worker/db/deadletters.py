"""Reading, marking and purging dead letters; writing them is `JobRepository.dead_letter`."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update

from worker.db.models import DeadLetter, DeadLetterReason, utcnow
from worker.db.session import Database
from worker.db.views import DeadLetterView, dead_letter_view


@dataclass(frozen=True)
class DeadLetterGroup:
    """Letters that share a reason, an error code and an HTTP status; `not_replayed` of them wait for a replay."""

    reason: DeadLetterReason
    error_code: str | None
    http_status: int | None
    count: int
    not_replayed: int


class DeadLetterRepository:
    """The dead_letters table, seen through snapshots (`DeadLetterView`)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def list(
        self,
        *,
        since: datetime | None = None,
        code: str | None = None,
        http_status: int | None = None,
        reason: DeadLetterReason | str | None = None,
        replayed: bool | None = None,
        limit: int = 100,
    ) -> builtins.list[DeadLetterView]:
        """Newest first; each filter given narrows the list."""
        query = select(DeadLetter).order_by(DeadLetter.created_at.desc(), DeadLetter.id.desc()).limit(limit)
        if since is not None:
            query = query.where(DeadLetter.created_at >= since)
        if code is not None:
            query = query.where(DeadLetter.error_code == code)
        if http_status is not None:
            query = query.where(DeadLetter.http_status == http_status)
        if reason is not None:
            query = query.where(DeadLetter.reason == DeadLetterReason(reason))
        if replayed is not None:
            column = DeadLetter.replayed_at
            query = query.where(column.is_not(None) if replayed else column.is_(None))
        with self._db.session() as session:
            return [dead_letter_view(row) for row in session.scalars(query)]

    def groups(self) -> builtins.list[DeadLetterGroup]:
        """Letters counted by reason, error code and HTTP status, the largest group first.

        Counted as rows (`count(*)`), not ids: the index on the group and `replayed_at` then
        answers alone, without visiting each letter's row.
        """
        waiting = func.count().filter(DeadLetter.replayed_at.is_(None))
        query = (
            select(DeadLetter.reason, DeadLetter.error_code, DeadLetter.http_status, func.count(), waiting)
            .group_by(DeadLetter.reason, DeadLetter.error_code, DeadLetter.http_status)
            .order_by(func.count().desc())
        )
        with self._db.session() as session:
            return [DeadLetterGroup(*row) for row in session.execute(query)]

    def get(self, dead_letter_id: int) -> DeadLetterView | None:
        with self._db.session() as session:
            row = session.get(DeadLetter, dead_letter_id)
            return dead_letter_view(row) if row is not None else None

    def get_for_job(self, job_id: str) -> DeadLetterView | None:
        with self._db.session() as session:
            row = session.scalars(select(DeadLetter).where(DeadLetter.job_id == job_id)).first()
            return dead_letter_view(row) if row is not None else None

    def mark_replayed(self, dead_letter_id: int, new_job_id: str) -> bool:
        """Record the job that replays this letter; only the first replay is recorded."""
        statement = (
            update(DeadLetter)
            .where(DeadLetter.id == dead_letter_id, DeadLetter.replayed_at.is_(None))
            .values(replayed_at=utcnow(), replayed_job_id=new_job_id)
            .execution_options(synchronize_session=False)
        )
        with self._db.session() as session:
            return session.execute(statement).rowcount == 1

    def unmark_replayed(self, dead_letter_id: int, new_job_id: str) -> bool:
        """Undo `mark_replayed` for `new_job_id` only (its job could not be queued), so it can be replayed again."""
        statement = (
            update(DeadLetter)
            .where(DeadLetter.id == dead_letter_id, DeadLetter.replayed_job_id == new_job_id)
            .values(replayed_at=None, replayed_job_id=None)
            .execution_options(synchronize_session=False)
        )
        with self._db.session() as session:
            return session.execute(statement).rowcount == 1

    def count_before(self, before: datetime) -> int:
        """How many letters `purge(before)` would delete."""
        with self._db.session() as session:
            return (
                session.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.created_at < before)) or 0
            )

    def purge(self, before: datetime) -> int:
        """Delete the letters created before `before`; returns how many went."""
        with self._db.session() as session:
            statement = delete(DeadLetter).where(DeadLetter.created_at < before)
            return session.execute(statement.execution_options(synchronize_session=False)).rowcount
