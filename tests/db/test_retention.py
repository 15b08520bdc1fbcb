"""Retention at the table: which jobs a purge may delete, and what goes with them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from tests.db.conftest import FLUX_PARAMS
from worker.db.batches import BatchRepository
from worker.db.jobs import JobRepository
from worker.db.models import UNFINISHED_PREDICATE, BatchItem, DeadLetter, Job, utcnow
from worker.db.retention import PurgeCount, RetentionRepository
from worker.db.session import Database
from worker.db.statements import FINAL_STATUSES, not_final
from worker.states import JobStatus

TASK = "worker.tasks.submit_generation"
OLD = timedelta(days=40)


def aged(db: Database, job_id: str, *, by: timedelta, finished: bool = True) -> None:
    """Move a job's times back, as if it had been written `by` ago."""
    moment = utcnow() - by
    values = {"created_at": moment, "updated_at": moment, "finished_at": moment if finished else None}
    with db.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def job_in(jobs: JobRepository, status: JobStatus, **create) -> str:
    job_id = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS, **create).id
    if status is not JobStatus.CREATED:
        jobs.mark_status(job_id, status)
    return job_id


@pytest.fixture
def retention(db: Database) -> RetentionRepository:
    return RetentionRepository(db)


@pytest.fixture
def batches(db: Database) -> BatchRepository:
    return BatchRepository(db)


def remaining(db: Database, table) -> set:
    column = {Job: Job.id, DeadLetter: DeadLetter.job_id, BatchItem: BatchItem.job_id}[table]
    with db.session() as session:
        return set(session.scalars(select(column)))


def purge_all(retention: RetentionRepository, before: datetime, **kwargs) -> list[str]:
    deleted: list[str] = []
    while chunk := retention.delete_chunk(before, **kwargs).jobs:
        deleted.extend(job.id for job in chunk)
    return deleted


def test_only_final_jobs_that_ended_before_the_cutoff_and_hold_no_claim_are_deleted(db, jobs, retention):
    old_success = job_in(jobs, JobStatus.SUCCESS)
    old_failure = job_in(jobs, JobStatus.FAILURE)
    old_canceled = job_in(jobs, JobStatus.CANCELED)
    old_without_end = job_in(jobs, JobStatus.SUCCESS)
    recent_success = job_in(jobs, JobStatus.SUCCESS)
    old_created = job_in(jobs, JobStatus.CREATED)
    old_running = job_in(jobs, JobStatus.IN_PROGRESS)
    old_claimed = job_in(jobs, JobStatus.CREATED)
    for job_id in (old_success, old_failure, old_canceled, old_created, old_running, old_claimed):
        aged(db, job_id, by=OLD)
    aged(db, old_without_end, by=OLD, finished=False)
    # A claim taken while the job was unfinished, still held when the job ended.
    assert jobs.claim_submit(old_claimed, "c" * 32, hold_s=3600) is not None
    jobs.mark_status(old_claimed, JobStatus.CANCELED)
    aged(db, old_claimed, by=OLD)
    cutoff = utcnow() - timedelta(days=30)

    assert retention.count(cutoff).jobs == 4
    deleted = purge_all(retention, cutoff, limit=3)

    assert sorted(deleted) == sorted([old_success, old_failure, old_canceled, old_without_end])
    assert remaining(db, Job) == {recent_success, old_created, old_running, old_claimed}
    assert retention.count(cutoff).jobs == 0


def test_a_dry_count_changes_nothing(db, jobs, retention):
    ids = {job_in(jobs, JobStatus.SUCCESS) for _ in range(3)}

    assert retention.count(utcnow()).jobs == 3
    assert remaining(db, Job) == ids


def test_a_deleted_job_takes_its_dead_letter_and_batch_item_with_it(db, jobs, batches, retention):
    batch, _ = batches.open(name="icons", source="icons.yaml", out_dir=None, item_count=2)
    dead = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=batch.id, item_name="sword").id
    assert batches.claim_item(batch.id, "sword", "key-sword", dead, replacing=None)
    jobs.dead_letter(dead, reason="permanent_error", task_name=TASK, payload={}, error=None, attempts=1)
    running = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=batch.id, item_name="shield").id
    assert batches.claim_item(batch.id, "shield", "key-shield", running, replacing=None)
    jobs.mark_status(running, JobStatus.IN_PROGRESS)

    assert retention.count(utcnow()) == PurgeCount(jobs=1, dead_letters=1, batch_items=1)
    chunk = retention.delete_chunk(utcnow())

    assert [job.id for job in chunk.jobs] == [dead]
    assert (chunk.dead_letters, chunk.batch_items) == (1, 1)
    assert remaining(db, Job) == remaining(db, BatchItem) == {running}
    assert remaining(db, DeadLetter) == set()


def test_a_purge_of_one_batch_leaves_other_jobs_alone(db, jobs, batches, retention):
    batch, _ = batches.open(name="icons", source="icons.yaml", out_dir=None, item_count=1)
    other, _ = batches.open(name="maps", source="maps.yaml", out_dir=None, item_count=1)
    in_batch = job_in(jobs, JobStatus.SUCCESS, batch_id=batch.id, item_name="sword")
    in_other = job_in(jobs, JobStatus.SUCCESS, batch_id=other.id, item_name="sword")
    single = job_in(jobs, JobStatus.SUCCESS)

    assert retention.count(utcnow(), batch_id=batch.id).jobs == 1
    assert purge_all(retention, utcnow(), batch_id=batch.id) == [in_batch]
    assert remaining(db, Job) == {in_other, single}


def test_files_recorded_by_the_jobs_left_are_told_apart(db, jobs, batches, retention):
    batch, _ = batches.open(name="icons", source="icons.yaml", out_dir="/tmp/icons", item_count=1)
    newer = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=batch.id, item_name="sword").id
    batches.record_files(newer, [{"file": "sword.png", "sha256": "ab"}])
    jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=batch.id, item_name="shield")

    assert retention.files_still_recorded(batch.id, ["sword", "shield", "bow"]) == {"sword.png"}


def test_the_partial_index_predicate_names_exactly_the_final_statuses():
    listed = UNFINISHED_PREDICATE.removeprefix("status NOT IN (").removesuffix(")")
    assert {part.strip().strip("'") for part in listed.split(",")} == {s.value for s in FINAL_STATUSES}


def test_the_sweep_reads_unfinished_jobs_through_their_partial_index(db, jobs):
    jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS)
    query = select(Job.id).where(not_final()).order_by(Job.updated_at)
    compiled = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.session() as session:
        if db.is_sqlite:
            plan = session.execute(text("EXPLAIN QUERY PLAN " + compiled)).all()
        else:
            # A tiny table is read whole unless told otherwise; what counts is that the index fits the query.
            session.execute(text("SET LOCAL enable_seqscan = off"))
            # The compiled text names the table plainly; the tables live in their own schema.
            session.execute(text(f"SET LOCAL search_path TO {db.schema}"))
            plan = session.execute(text("EXPLAIN " + compiled)).all()
    assert "ix_jobs_unfinished_updated_at" in " ".join(str(row) for row in plan)


def test_the_sweep_reads_the_jobs_in_flight_through_their_own_index(db, jobs):
    jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS)
    query = select(Job.id).where(Job.scenario_job_id.is_not(None), not_final()).order_by(Job.updated_at)
    compiled = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.session() as session:
        if db.is_sqlite:
            plan = session.execute(text("EXPLAIN QUERY PLAN " + compiled)).all()
        else:
            session.execute(text("SET LOCAL enable_seqscan = off"))
            session.execute(text(f"SET LOCAL search_path TO {db.schema}"))
            plan = session.execute(text("EXPLAIN " + compiled)).all()
    # Not the index of every unfinished job, which holds the jobs still to send as well.
    assert "ix_jobs_in_flight_updated_at" in " ".join(str(row) for row in plan)


def test_unfinished_batch_jobs_are_found_whether_sent_or_not(db, jobs, batches):
    assert not batches.has_unfinished()
    jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS)
    assert not batches.has_unfinished()  # a single job is no batch's
    batch, _ = batches.open(name="icons", source="icons.yaml", out_dir="/tmp/icons", item_count=1)
    job = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=batch.id, item_name="sword")
    assert batches.has_unfinished() and batches.unfinished_count() == 1
    jobs.mark_status(job.id, JobStatus.CANCELED)
    assert not batches.has_unfinished() and batches.unfinished_count() == 0


def test_a_batch_is_tallied_per_status_from_its_current_jobs_only(db, jobs, batches):
    batch, _ = batches.open(name="icons", source="icons.yaml", out_dir="/tmp/icons", item_count=3)
    old = job_in(jobs, JobStatus.FAILURE, batch_id=batch.id, item_name="sword")
    assert batches.claim_item(batch.id, "sword", "key-1", old, replacing=None)
    new = job_in(jobs, JobStatus.SUCCESS, batch_id=batch.id, item_name="sword")
    assert batches.claim_item(batch.id, "sword", "key-2", new, replacing=old)
    batches.record_files(new, [{"file": "sword.png", "sha256": "ab"}])
    running = job_in(jobs, JobStatus.IN_PROGRESS, batch_id=batch.id, item_name="shield")
    with db.session() as session:
        session.execute(update(Job).where(Job.id == old).values(cu_cost=2.0, cu_refunded=2.0))
        session.execute(update(Job).where(Job.id == new).values(cu_cost=3.0, cu_refunded=1.0))
        session.execute(update(Job).where(Job.id == running).values(cu_cost=4.0))

    tally = batches.tally(batch.id)

    by_status = {s.status: s for s in tally.statuses}
    assert set(by_status) == {JobStatus.SUCCESS, JobStatus.IN_PROGRESS}
    success, in_progress = by_status[JobStatus.SUCCESS], by_status[JobStatus.IN_PROGRESS]
    assert (success.jobs, success.downloaded, success.priced, success.spent, success.charged) == (1, 1, 1, 2.0, 3.0)
    assert (in_progress.jobs, in_progress.downloaded, in_progress.spent, in_progress.charged) == (1, 0, 4.0, 4.0)
    # The batch began with its first job, replaced or not, and last ended with the newest one.
    assert tally.first_created == jobs.get(old).created_at and tally.last_finished == jobs.get(new).finished_at
    assert tally.spent_by_all == 6.0


def test_several_batches_are_tallied_in_one_statement_each_on_its_own(db, jobs, batches):
    first, _ = batches.open(name="icons", source="icons.yaml", out_dir=None, item_count=2)
    second, _ = batches.open(name="maps", source="maps.yaml", out_dir=None, item_count=1)
    empty, _ = batches.open(name="empty", source="empty.yaml", out_dir=None, item_count=0)
    for name in ("sword", "shield"):
        job_in(jobs, JobStatus.SUCCESS, batch_id=first.id, item_name=name)
    job_in(jobs, JobStatus.QUEUED, batch_id=second.id, item_name="north")

    tallies = batches.tallies([first.id, second.id, empty.id])

    assert [(s.status, s.jobs) for s in tallies[first.id].statuses] == [(JobStatus.SUCCESS, 2)]
    assert [(s.status, s.jobs) for s in tallies[second.id].statuses] == [(JobStatus.QUEUED, 1)]
    assert tallies[empty.id].statuses == []
