"""The batches table, and the questions asked of a batch's jobs."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from worker.db.jobs import FINAL_STATUSES, JobNotFound
from worker.db.models import Batch, Job, utcnow
from worker.db.session import Database
from worker.db.views import BatchView, JobView, batch_view, job_view
from worker.states import JobStatus


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

    def current_jobs(self, batch_id: str) -> dict[str, JobView]:
        """item key -> the job that stands for it now: the newest one."""
        latest: dict[str, JobView] = {}
        for job in self.jobs(batch_id):
            if job.item_key is not None:
                latest[job.item_key] = job
        return latest

    def in_flight(self, limit: int = 10_000) -> builtins.list[JobView]:
        """Batch jobs Scenario has accepted and not finished, least recently updated first."""
        with self._db.session() as session:
            rows = session.scalars(
                select(Job)
                .where(Job.batch_id.is_not(None), Job.scenario_job_id.is_not(None), Job.status.not_in(FINAL_STATUSES))
                .order_by(Job.updated_at)
                .limit(limit)
            )
            return [job_view(r) for r in rows]

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
        """Succeeded batch jobs whose images are not on disk yet."""
        with self._db.session() as session:
            query = select(Job).where(Job.batch_id.is_not(None), Job.status == JobStatus.SUCCESS)
            if batch_id is not None:
                query = query.where(Job.batch_id == batch_id)
            rows = session.scalars(query.order_by(Job.finished_at))
            waiting = [job_view(r) for r in rows if not r.files]
            return waiting[:limit]

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
