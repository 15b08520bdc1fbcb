"""The batches table, and the questions asked of a batch's jobs."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from worker.db.jobs import FINAL_STATUSES, JobNotFound
from worker.db.models import AWAITING_DOWNLOAD_PREDICATE, Batch, BatchItem, BatchStatusTally, Job, utcnow
from worker.db.session import Database
from worker.db.statements import not_final
from worker.db.views import BatchItemView, BatchView, JobView, batch_item_view, batch_view, job_view
from worker.states import JobStatus


@dataclass(frozen=True)
class StatusTally:
    """A batch's current jobs in one status (one per item; replaced versions left out)."""

    status: JobStatus
    jobs: int
    downloaded: int
    # Creative units: jobs with a recorded cost, what they spent (charged less refunded), what they were charged.
    priced: int
    spent: float
    charged: float


@dataclass(frozen=True)
class BatchTally:
    """What a batch's progress needs, without reading its jobs: per status, and units spent by every job.

    `first_created` is when the batch's first job was made, `last_finished` when its last one ended.
    """

    statuses: list[StatusTally]
    spent_by_all: float
    first_created: datetime | None = None
    last_finished: datetime | None = None


# The tally keeps creative units in millionths, as integers.
_MICRO = 1_000_000


class BatchRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def open(self, *, name: str, source: str, out_dir: str | None, item_count: int) -> tuple[BatchView, bool]:
        """The batch of this name, made if new; returns (batch, created).

        Submitting a manifest again resumes its batch: the source, folder and
        size are brought up to date and a cancel is lifted.
        """
        for _ in range(2):
            with self._db.session() as session:
                row = session.scalars(select(Batch).where(Batch.name == name)).first()
                if row is not None:
                    row.source, row.item_count, row.canceled_at = source, item_count, None
                    row.out_dir = out_dir or row.out_dir
                    session.flush()
                    return batch_view(row), False
            try:
                with self._db.session() as session:
                    row = Batch(id=uuid.uuid4().hex, name=name, source=source, out_dir=out_dir, item_count=item_count)
                    session.add(row)
                    session.flush()
                    return batch_view(row), True
            except IntegrityError:
                continue  # opened by someone else at the same moment: read theirs
        raise RuntimeError(f"could not open batch {name!r}")

    def find(self, name_or_id: str) -> BatchView | None:
        with self._db.session() as session:
            row = session.scalars(select(Batch).where((Batch.name == name_or_id) | (Batch.id == name_or_id))).first()
            return batch_view(row) if row else None

    def get(self, batch_id: str) -> BatchView | None:
        with self._db.session() as session:
            row = session.get(Batch, batch_id)
            return batch_view(row) if row else None

    def list(self, limit: int = 100) -> builtins.list[BatchView]:
        with self._db.session() as session:
            rows = session.scalars(select(Batch).order_by(Batch.created_at.desc()).limit(limit))
            return [batch_view(r) for r in rows]

    def mark_canceled(self, batch_id: str) -> None:
        with self._db.session() as session:
            session.execute(update(Batch).where(Batch.id == batch_id).values(canceled_at=utcnow()))

    def jobs(self, batch_id: str) -> builtins.list[JobView]:
        """Every job of the batch, oldest first (a replayed item has several)."""
        with self._db.session() as session:
            rows = session.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.created_at, Job.id))
            return [job_view(r) for r in rows]

    def items(self, batch_id: str) -> dict[str, BatchItemView]:
        """item name -> which version of the item and which job stand for it now."""
        with self._db.session() as session:
            rows = session.scalars(select(BatchItem).where(BatchItem.batch_id == batch_id))
            return {row.name: batch_item_view(row) for row in rows}

    def claim_item(self, batch_id: str, name: str, item_key: str, job_id: str, *, replacing: str | None) -> bool:
        """Make `job_id` the item's job; False when another caller got there first.

        With `replacing` None the item must be new (insert or nothing); otherwise it must
        still point at `replacing`, the job the caller saw (compare and set). Either way
        the database decides between two callers, not a read made before.
        """
        if replacing is None:
            try:
                with self._db.session() as session:
                    session.add(BatchItem(batch_id=batch_id, name=name, item_key=item_key, job_id=job_id))
                    session.flush()
                return True
            except IntegrityError:
                return False
        statement = (
            update(BatchItem)
            .where(BatchItem.batch_id == batch_id, BatchItem.name == name, BatchItem.job_id == replacing)
            .values(item_key=item_key, job_id=job_id, claimed_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        with self._db.session() as session:
            return session.execute(statement).rowcount == 1

    def claim_new_items(self, batch_id: str, claims: Sequence[tuple[str, str, str]]) -> builtins.list[str]:
        """Claim many new items, (name, item_key, job_id) each, in one INSERT; the names claimed.

        When another caller claimed one of them meanwhile the INSERT fails as a whole, and each
        is then claimed on its own (`claim_item`), so the database still decides item by item.
        """
        if not claims:
            return []
        now = utcnow()
        values = [
            {"batch_id": batch_id, "name": name, "item_key": key, "job_id": job_id, "claimed_at": now}
            for name, key, job_id in claims
        ]
        try:
            with self._db.session() as session:
                session.execute(insert(BatchItem), values)
            return [name for name, _, _ in claims]
        except IntegrityError:
            return [n for n, k, j in claims if self.claim_item(batch_id, n, k, j, replacing=None)]

    def current_jobs(self, batch_id: str) -> dict[str, JobView]:
        """item name -> the job that stands for it now: the one its item row names, else its newest job.

        A job replaced by a newer version of its item (or by a resubmit) is not listed.
        """
        items = self.items(batch_id)
        jobs = self.jobs(batch_id)
        by_id = {job.id: job for job in jobs}
        current: dict[str, JobView] = {}
        for job in jobs:
            name = job.item_name or job.item_key
            if name is not None:
                current[name] = job
        for name, item in items.items():
            if item.job_id in by_id:
                current[name] = by_id[item.job_id]
        return current

    def tally(self, batch_id: str) -> BatchTally:
        """The batch's current jobs counted and summed per status in one statement; see `current_jobs`."""
        return self.tallies([batch_id])[batch_id]

    def tallies(self, batch_ids: Sequence[str]) -> dict[str, BatchTally]:
        """`tally` of each of these batches, all in one statement (a page of batches is one query).

        Read from `batch_tallies`, which the database keeps in step with the jobs (revision
        0010): a few rows per batch, however many jobs it has.
        """
        query = select(BatchStatusTally).where(BatchStatusTally.batch_id.in_(list(batch_ids)))
        with self._db.session() as session:
            rows = builtins.list(session.scalars(query.order_by(BatchStatusTally.batch_id, BatchStatusTally.status)))
            return {batch_id: _tally([r for r in rows if r.batch_id == batch_id]) for batch_id in batch_ids}

    def has_unfinished(self) -> bool:
        """Whether any batch job is not final yet, submitted or not: the first such row found answers,
        through the partial index of unfinished jobs, however many a batch has still to send."""
        query = select(Job.id).where(Job.batch_id.is_not(None), not_final()).limit(1)
        with self._db.session() as session:
            return session.scalar(query) is not None

    def unfinished_count(self) -> int:
        """Batch jobs not final yet, submitted or not."""
        with self._db.session() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.batch_id.is_not(None), Job.status.not_in(FINAL_STATUSES))
                )
                or 0
            )

    def awaiting_download(self, batch_id: str | None = None, limit: int = 1000) -> builtins.list[JobView]:
        """Succeeded batch jobs whose images are not on disk yet, the longest finished first; at most `limit`.

        Filtered and limited in SQL: a run reads what it will fetch, not the whole batch. The
        predicate is the partial index's own text, so the index serves it on every backend and plan.
        """
        query = select(Job).where(text(AWAITING_DOWNLOAD_PREDICATE), ~_superseded())
        if batch_id is not None:
            query = query.where(Job.batch_id == batch_id)
        with self._db.session() as session:
            rows = session.scalars(query.order_by(Job.finished_at, Job.id).limit(limit))
            return [job_view(r) for r in rows]

    def awaiting_download_in(self, batch_ids: Sequence[str]) -> set[str]:
        """Those of these batches with at least one job in `awaiting_download`, in one statement."""
        if not batch_ids:
            return set()
        waiting = (
            select(Job.id)
            .where(text(AWAITING_DOWNLOAD_PREDICATE), Job.batch_id == Batch.id, ~_superseded())
            .limit(1)
            .exists()
        )
        query = select(Batch.id).where(Batch.id.in_(list(batch_ids)), waiting)
        with self._db.session() as session:
            return set(session.scalars(query))

    def item_history(self, batch_id: str, names: Sequence[str]) -> builtins.list[JobView]:
        """Every job these items of the batch ever had (earlier versions recorded files they may keep)."""
        wanted = list(dict.fromkeys(names))
        found: builtins.list[JobView] = []
        with self._db.session() as session:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                query = select(Job).where(Job.batch_id == batch_id, Job.item_name.in_(chunk))
                found.extend(job_view(r) for r in session.scalars(query.order_by(Job.created_at, Job.id)))
        return found

    def record_files(self, job_id: str, files: Sequence[dict[str, Any]]) -> None:
        with self._db.session() as session:
            done = session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(files=list(files), updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:
                raise JobNotFound(job_id)


def _tally(rows: Sequence[BatchStatusTally]) -> BatchTally:
    statuses = [
        StatusTally(
            JobStatus(row.status),
            row.jobs,
            row.downloaded,
            row.priced,
            row.spent_micro_cu / _MICRO,
            row.charged_micro_cu / _MICRO,
        )
        for row in rows
        # A status whose jobs were all replaced by newer versions still counts in what was spent.
        if row.jobs
    ]
    first = min((row.first_created for row in rows if row.first_created is not None), default=None)
    last = max((row.last_finished for row in rows if row.last_finished is not None), default=None)
    return BatchTally(statuses, sum(row.spent_all_micro_cu for row in rows) / _MICRO, first, last)


def _superseded():
    """A batch job whose item now points at another job (a newer version, or a resubmit)."""
    return exists().where(
        and_(BatchItem.batch_id == Job.batch_id, BatchItem.name == Job.item_name, BatchItem.job_id != Job.id)
    )
