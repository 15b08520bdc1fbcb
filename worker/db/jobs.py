"""Reads and idempotent writes of job rows; every method is one short transaction."""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, func, insert, select
from sqlalchemy.exc import IntegrityError

from worker import lanes
from worker.db.models import DeadLetter, DeadLetterReason, Job, utcnow
from worker.db.snapshots import snapshot_values
from worker.db.statements import (
    FINAL_STATUSES,
    JobNotFound,
    load_job,
    not_final,
    snapshot_update,
    update_jobs,
)
from worker.db.submissions import AdoptOutcome, ScenarioJobTaken, SubmissionRecords, answer_may_be_lost
from worker.db.views import DeadLetterView, JobView, dead_letter_view, job_view
from worker.observe import metrics
from worker.states import JobStatus

__all__ = [
    "FINAL_STATUSES",
    "AdoptOutcome",
    "EndedRow",
    "JobNotFound",
    "JobRepository",
    "JobView",
    "NewJob",
    "StoredOptions",
    "WatchedJob",
    "ScenarioJobTaken",
    "answer_may_be_lost",
]
_IN_CHUNKS_OF = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit
# Rows per INSERT of a bulk create: one statement per chunk, few enough bound parameters for SQLite.
_INSERT_CHUNKS_OF = 1_000


class JobRepository(SubmissionRecords):
    """The jobs table, seen through snapshots (`JobView`)."""

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
        options: StoredOptions | None = None,
        fresh_id: bool = False,
    ) -> JobView:
        """A new job in CREATED; with an explicit `job_id` that exists already, that job.

        `fresh_id` says the caller made `job_id` just now (a new uuid), so no row can hold it
        and it is not looked up first; the INSERT's unique key would still refuse a clash.

        With an idempotency key in `options` that a job holds already, that job: the unique key
        decides between concurrent callers, and the caller compares `request_digest`.
        """
        new_id = job_id or uuid.uuid4().hex
        stored = options or StoredOptions()
        try:
            with self._db.session() as session:
                if job_id is not None and not fresh_id and (existing := session.get(Job, job_id)) is not None:
                    return job_view(existing)
                if stored.idempotency_key is not None:
                    keyed = session.scalars(select(Job).where(Job.idempotency_key == stored.idempotency_key)).first()
                    if keyed is not None:
                        return job_view(keyed)
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
                    **stored.values(),
                )
                session.add(row)
                session.flush()
                view = job_view(row)
            metrics.job_moved(JobStatus.CREATED, batch_id)
            return view
        except IntegrityError:
            # Two callers created the same explicit id or idempotency key at once; the first one stands.
            if stored.idempotency_key is not None and (
                keyed_view := self.find_by_idempotency_key(stored.idempotency_key)
            ):
                return keyed_view
            if job_id is None or (existing_view := self.get(job_id)) is None:
                raise
            return existing_view

    def release_idempotency_key(self, job_id: str) -> bool:
        """Free the key of a job that was never queued, so the same call made again records a new one."""
        statement = update_jobs().where(Job.id == job_id).values(idempotency_key=None, updated_at=utcnow())
        return self._update_if(job_id, statement)

    def find_by_idempotency_key(self, key: str) -> JobView | None:
        with self._db.session() as session:
            row = session.scalars(select(Job).where(Job.idempotency_key == key)).first()
            return job_view(row) if row is not None else None

    def find_by_scenario_job_id(self, scenario_job_id: str) -> JobView | None:
        """The job Scenario knows by this id (a unique column: at most one)."""
        with self._db.session() as session:
            row = session.scalars(select(Job).where(Job.scenario_job_id == scenario_job_id)).first()
            return job_view(row) if row is not None else None

    def create_many(
        self, rows: Iterable[NewJob], *, on_chunk: Callable[[int], None] | None = None
    ) -> builtins.list[str]:
        """New jobs in CREATED, one INSERT per chunk of rows, each chunk its own transaction; their ids.

        Meant for many new rows at once (a batch's items): ids are fresh or chosen by the
        caller, never existing ones. `on_chunk(n)` is told the rows written so far.
        """
        ids: builtins.list[str] = []
        chunk: builtins.list[dict[str, Any]] = []
        now = utcnow()

        def write() -> None:
            with self._db.session() as session:
                session.execute(insert(Job), chunk)
            for batch_id in {values["batch_id"] for values in chunk}:
                metrics.job_moved(JobStatus.CREATED, batch_id, sum(v["batch_id"] == batch_id for v in chunk))
            ids.extend(values["id"] for values in chunk)
            chunk.clear()
            if on_chunk is not None:
                on_chunk(len(ids))

        for row in rows:
            chunk.append(row.values(now))
            if len(chunk) >= _INSERT_CHUNKS_OF:
                write()
        if chunk:
            write()
        return ids

    def in_flight(self, limit: int = 10_000) -> builtins.list[WatchedJob]:
        """Jobs Scenario has accepted and not finished, batch or not, least recently updated first.

        Only what watching them needs: a sweep reads every job in flight every few seconds,
        and their inputs and histories would cost it memory and time for nothing.
        """
        columns = (Job.id, Job.scenario_job_id, Job.batch_id, Job.created_at, Job.updated_at)
        query = (
            select(*columns, Job.submitted_at, Job.deadline_at, Job.poll_seq, Job.status, Job.model_id)
            .where(Job.scenario_job_id.is_not(None), not_final())
            .order_by(Job.updated_at)
            .limit(limit)
        )
        with self._db.session() as session:
            return [WatchedJob(*row) for row in session.execute(query)]

    def held_scenario_jobs(self, scenario_job_ids: Iterable[str]) -> set[str]:
        """Those of these Scenario job ids that some row holds."""
        wanted = list(dict.fromkeys(scenario_job_ids))
        held: set[str] = set()
        with self._db.session() as session:
            for start in range(0, len(wanted), _IN_CHUNKS_OF):
                chunk = wanted[start : start + _IN_CHUNKS_OF]
                held.update(session.scalars(select(Job.scenario_job_id).where(Job.scenario_job_id.in_(chunk))))
        return held

    def unfinished_count(self, *, single_only: bool = False) -> int:
        """Jobs not final yet, queued or on Scenario; with `single_only`, those of no batch."""
        query = select(func.count()).select_from(Job).where(not_final())
        if single_only:
            query = query.where(Job.batch_id.is_(None))
        with self._db.session() as session:
            return session.scalar(query) or 0

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
        return self.search(status=status, batch_id=batch_id, limit=limit)

    def search(
        self,
        *,
        status: JobStatus | None = None,
        batch_id: str | None = None,
        model_id: str | None = None,
        tag: str | None = None,
        metadata: tuple[str, Any] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> builtins.list[JobView]:
        """Newest first; each filter given narrows the list (`since`/`until` bound the creation time).

        `metadata` is (key, value): jobs whose metadata has that top-level key set to that value.
        """
        query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        if status is not None:
            query = query.where(Job.status == status)
        if batch_id is not None:
            query = query.where(Job.batch_id == batch_id)
        if model_id is not None:
            query = query.where(Job.model_id == model_id)
        if tag is not None:
            # Tags are a JSON list on every backend; its text holds the tag exactly as json.dumps writes it.
            query = query.where(cast(Job.tags, String).contains(json.dumps(tag), autoescape=True))
        if metadata is not None:
            # Narrowed in SQL by the pair's JSON text (every backend stores the document as json.dumps
            # writes it), then matched exactly here: the text may also sit in a nested mapping.
            key, value = metadata
            pair = f"{json.dumps(key)}: {json.dumps(value)}"
            query = query.where(cast(Job.job_metadata, String).contains(pair, autoescape=True))
        if since is not None:
            query = query.where(Job.created_at >= since)
        if until is not None:
            query = query.where(Job.created_at < until)
        with self._db.session() as session:
            found = [job_view(row) for row in session.scalars(query)]
        if metadata is not None:
            found = [job for job in found if metadata[0] in job.job_metadata and job.job_metadata[metadata[0]] == value]
        return found

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
            update_jobs()
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

    def set_params(self, job_id: str, params: Mapping[str, Any]) -> bool:
        """Replace the inputs of a job not yet sent (defaults applied, a seed chosen) before its submit."""
        statement = (
            update_jobs()
            .where(Job.id == job_id, Job.scenario_job_id.is_(None), not_final())
            .values(params=dict(params), updated_at=utcnow())
        )
        return self._update_if(job_id, statement)

    def apply_snapshot(
        self,
        job_id: str,
        scenario_job: Mapping[str, Any],
        *,
        expected_poll_seq: int | None = None,
        seen: JobStatus | None = None,
    ) -> bool:
        """Store a polled Scenario job object; with `expected_poll_seq`, only if no other poll got there first.

        `seen` is the status the caller read before (for the transition count): a final status
        always counts, as the statement only touches a job that is not final yet.
        """
        now = utcnow()
        statement = snapshot_update(job_id, scenario_job, now)
        if expected_poll_seq is not None:
            statement = statement.where(Job.poll_seq == expected_poll_seq).values(
                poll_seq=expected_poll_seq + 1, polls=Job.polls + 1
            )
        row = self._update_returning(job_id, statement, Job.batch_id)
        if row is None:
            return False
        status = JobStatus.from_scenario(str(scenario_job.get("status")))
        if status is not None and (status.is_final or (seen is not None and status is not seen)):
            metrics.job_moved(status, row.batch_id)
        if status is not None and status.is_final:
            metrics.ended_on_scenario(scenario_job, now)
        return True

    def apply_final_snapshots(self, snapshots: Iterable[tuple[str, Mapping[str, Any]]]) -> builtins.list[EndedRow]:
        """Store many final Scenario job objects in one transaction: the rows it ended, with their callback URL.

        Each row is written by `apply_snapshot`'s own statement (a final or another Scenario job's
        row is left alone), so a job another worker ended first is not in the answer.
        """
        now = utcnow()
        ended: builtins.list[EndedRow] = []
        given = builtins.list(snapshots)
        with self._db.session() as session:
            for job_id, scenario_job in given:
                statement = snapshot_update(job_id, scenario_job, now).returning(Job.batch_id, Job.callback_url)
                written = session.execute(statement).first()
                if written is not None:
                    ended.append(EndedRow(job_id, written.batch_id, written.callback_url))
        by_id = dict(given)
        for row in ended:
            scenario_job = by_id[row.id]
            status = JobStatus.from_scenario(str(scenario_job.get("status")))
            if status is not None and status.is_final:
                metrics.job_moved(status, row.batch_id)
                metrics.ended_on_scenario(scenario_job, now)
        return ended

    def stalled(
        self, *, untouched_since: datetime, limit: int = 10_000, skip_unpicked_in: Iterable[str] = ()
    ) -> builtins.list[JobView]:
        """Unfinished jobs nothing has written to since that moment, oldest first.

        `skip_unpicked_in` names submit lanes (`lanes.SUBMIT`, `lanes.BATCH`) whose jobs no worker
        has picked up yet are left out here, before the limit, since they still wait in that lane.
        Jobs paused for a budget wait on purpose: the recovery resumes them when it has room.
        """
        query = select(Job).where(not_final(), Job.updated_at < untouched_since, Job.paused_reason.is_(None))
        for lane in skip_unpicked_in:
            of_lane = Job.batch_id.is_(None) if lane == lanes.SUBMIT else Job.batch_id.is_not(None)
            unpicked = and_(Job.scenario_job_id.is_(None), Job.last_task_id.is_(None), of_lane)
            query = query.where(~unpicked)
        with self._db.session() as session:
            rows = session.scalars(query.order_by(Job.updated_at).limit(limit))
            return [job_view(row) for row in rows]

    def advance_poll_seq(self, job_id: str, expected_poll_seq: int) -> bool:
        """Move the poll counter on without a snapshot; False when another poll got there first."""
        statement = (
            update_jobs()
            .where(Job.id == job_id, Job.poll_seq == expected_poll_seq, not_final())
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
        statement = update_jobs().where(Job.id == job_id, not_final()).values(**values)
        row = self._update_returning(job_id, statement, Job.batch_id)
        if row is None:
            return False
        metrics.job_moved(status, row.batch_id)
        return True

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
            job = load_job(session, job_id, lock=True)
            existing = session.scalars(select(DeadLetter).where(DeadLetter.job_id == job_id)).first()
            if existing is not None:
                return dead_letter_view(existing)
            before, ended_by = job.status, None
            now = utcnow()
            if snapshot is not None and not job.status.is_final and snapshot.get("jobId") == job.scenario_job_id:
                for column, value in snapshot_values(snapshot, now=now).items():
                    setattr(job, column, value)
                ended_by = snapshot
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
            view, after, batch_id = dead_letter_view(letter), job.status, job.batch_id
        metrics.dead_lettered(reason.value)
        if after is not before:
            metrics.job_moved(after, batch_id)
        if ended_by is not None:
            metrics.ended_on_scenario(ended_by, now)
        return view


@dataclass(frozen=True, slots=True)
class WatchedJob:
    """A job in flight as the sweep sees it: where it is on Scenario and its times."""

    id: str
    scenario_job_id: str
    batch_id: str | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    deadline_at: datetime | None
    poll_seq: int
    status: JobStatus
    model_id: str = ""


@dataclass(frozen=True)
class EndedRow:
    """A row a stored snapshot ended: what telling of its end needs."""

    id: str
    batch_id: str | None
    callback_url: str | None


@dataclass(frozen=True)
class NewJob:
    """One row for `JobRepository.create_many`."""

    model_id: str
    params: Mapping[str, Any]
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    batch_id: str | None = None
    item_key: str | None = None
    item_name: str | None = None
    tags: tuple[str, ...] = ()
    deadline_at: datetime | None = None
    options: StoredOptions = field(default_factory=lambda: StoredOptions())

    def values(self, now: datetime) -> dict[str, Any]:
        return {
            **self.options.values(),
            "id": self.job_id,
            "model_id": self.model_id,
            "params": dict(self.params),
            "status": JobStatus.CREATED,
            "deadline_at": self.deadline_at,
            "batch_id": self.batch_id,
            "item_key": self.item_key,
            "item_name": self.item_name,
            "tags": list(self.tags),
            "created_at": now,
            "updated_at": now,
        }


@dataclass(frozen=True)
class StoredOptions:
    """The caller's job options as the row keeps them (see worker.options.JobOptions)."""

    idempotency_key: str | None = None
    request_digest: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 5
    not_before: datetime | None = None
    callback_url: str | None = None

    def values(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "request_digest": self.request_digest,
            "job_metadata": dict(self.metadata),
            "priority": self.priority,
            "not_before": self.not_before,
            "callback_url": self.callback_url,
        }


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
