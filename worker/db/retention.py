"""Deleting old final jobs, a chunk per transaction, with the rows that only make sense beside them."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select

from worker.db.claims import unclaimed
from worker.db.models import Batch, BatchItem, DeadLetter, Job, utcnow
from worker.db.session import Database
from worker.db.statements import FINAL_STATUSES

_IN_CHUNKS_OF = 500  # names per IN (...) list, well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class PurgedJob:
    """What is left to know of a deleted job: where its images were written, and which they were."""

    id: str
    batch_id: str | None
    item_name: str | None
    out_dir: str | None
    files: list[Any]


@dataclass(frozen=True)
class PurgeCount:
    jobs: int
    dead_letters: int
    batch_items: int


@dataclass(frozen=True)
class PurgedChunk:
    jobs: list[PurgedJob]
    dead_letters: int
    batch_items: int


def purgeable(before: datetime, now: datetime, batch_id: str | None = None) -> ColumnElement[bool]:
    """A job that may go: final, ended before `before`, and held by no sender's claim.

    A final job that never recorded its end (rows older than `finished_at`) counts from its
    last write. Final jobs take no new claim, so one that holds none now never will.
    """
    return or_(
        _purgeable(before, now, batch_id, recorded_end=True), _purgeable(before, now, batch_id, recorded_end=False)
    )


def _purgeable(before: datetime, now: datetime, batch_id: str | None, *, recorded_end: bool) -> ColumnElement[bool]:
    if recorded_end:
        ended_before = Job.finished_at < before
    else:
        ended_before = and_(Job.finished_at.is_(None), Job.updated_at < before)
    condition = and_(Job.status.in_(FINAL_STATUSES), ended_before, unclaimed(now))
    return and_(condition, Job.batch_id == batch_id) if batch_id is not None else condition


class RetentionRepository:
    """Old final jobs, their dead letters and batch items: counted, or deleted a chunk at a time."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def count(self, before: datetime, *, batch_id: str | None = None) -> PurgeCount:
        """How many jobs, dead letters and batch items deleting with this cutoff would take, in all."""
        going = select(Job.id).where(purgeable(before, utcnow(), batch_id))
        jobs = select(func.count()).select_from(going.subquery())
        letters = select(func.count()).select_from(DeadLetter).where(DeadLetter.job_id.in_(going))
        items = select(func.count()).select_from(BatchItem).where(BatchItem.job_id.in_(going))
        with self._db.session() as session:
            return PurgeCount(*(session.scalar(query) or 0 for query in (jobs, letters, items)))

    def delete_chunk(self, before: datetime, *, batch_id: str | None = None, limit: int = 1_000) -> PurgedChunk:
        """Delete at most `limit` purgeable jobs with their dead letters and batch items, in one transaction.

        The rows are locked as they are chosen (PostgreSQL skips rows another transaction
        holds), so a chunk never waits on, nor undoes, a write in progress; the caller
        repeats until a chunk comes back empty.
        """
        now = utcnow()
        columns = (Job.id, Job.batch_id, Job.item_name, Batch.out_dir, Job.files)
        with self._db.session() as session:
            chosen: builtins.list[PurgedJob] = []
            # Jobs with a recorded end first, oldest first down the index on it: each chunk reads the
            # rows it deletes, not the table again. Rows that never recorded an end are rare.
            for recorded_end, order in ((True, Job.finished_at), (False, Job.updated_at)):
                query = (
                    select(*columns)
                    .outerjoin(Batch, Batch.id == Job.batch_id)
                    .where(_purgeable(before, now, batch_id, recorded_end=recorded_end))
                    .order_by(order)
                    .limit(limit)
                    .with_for_update(of=Job, skip_locked=True)
                )
                chosen = [PurgedJob(*row) for row in session.execute(query)]
                if chosen:
                    break
            if not chosen:
                return PurgedChunk([], 0, 0)
            ids = [job.id for job in chosen]
            letters = items = 0
            for start in range(0, len(ids), _IN_CHUNKS_OF):
                chunk = ids[start : start + _IN_CHUNKS_OF]
                letters += _delete(session, delete(DeadLetter).where(DeadLetter.job_id.in_(chunk)))
                items += _delete(session, delete(BatchItem).where(BatchItem.job_id.in_(chunk)))
                _delete(session, delete(Job).where(Job.id.in_(chunk)))
            return PurgedChunk(chosen, letters, items)

    def files_still_recorded(self, batch_id: str, item_names: Iterable[str]) -> set[str]:
        """The file names that jobs still in the table record for these items of the batch."""
        wanted = builtins.list(dict.fromkeys(item_names))
        recorded: set[str] = set()
        with self._db.session() as session:
            for start in range(0, len(wanted), _IN_CHUNKS_OF):
                chunk = wanted[start : start + _IN_CHUNKS_OF]
                query = select(Job.files).where(Job.batch_id == batch_id, Job.item_name.in_(chunk))
                for files in session.scalars(query):
                    recorded.update(f.get("file") for f in files or () if isinstance(f, dict) and f.get("file"))
        return recorded


def _delete(session: Any, statement: Any) -> int:
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount
