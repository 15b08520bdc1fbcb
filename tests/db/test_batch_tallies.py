"""A batch's tally, kept by the database as its jobs change, always equals a count of its jobs."""

from __future__ import annotations

import contextlib
import random
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select, update

from tests.db.conftest import FLUX_PARAMS, scenario_job
from worker.db.batches import BatchRepository, BatchTally
from worker.db.jobs import JobNotFound, JobRepository, NewJob
from worker.db.models import BatchItem, DeadLetterReason, Job
from worker.db.retention import RetentionRepository
from worker.db.session import Database
from worker.states import JobStatus

MICRO = 1_000_000


@pytest.fixture
def batches(db: Database) -> BatchRepository:
    return BatchRepository(db)


def counted(db: Database, batch_id: str) -> tuple[dict[JobStatus, tuple], int]:
    """What the tally should say, counted from the rows themselves: per status of the current jobs
    (jobs, downloaded, priced, spent, charged) and what every job spent, in millionths of a unit."""
    with db.session() as session:
        items = {(i.batch_id, i.name): i.job_id for i in session.scalars(select(BatchItem))}
        rows = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
        per_status: dict[JobStatus, list[int]] = {}
        spent_by_all = 0
        for job in rows:
            spent = round(max(0.0, (job.cu_cost or 0.0) - (job.cu_refunded or 0.0)) * MICRO)
            spent_by_all += spent
            pointer = items.get((job.batch_id, job.item_name))
            if pointer is not None and pointer != job.id:
                continue  # a replaced version
            counts = per_status.setdefault(job.status, [0, 0, 0, 0, 0])
            counts[0] += 1
            counts[1] += 1 if job.files else 0
            counts[2] += 1 if job.cu_cost is not None else 0
            counts[3] += spent
            counts[4] += round((job.cu_cost or 0.0) * MICRO)
    return {status: tuple(c) for status, c in per_status.items()}, spent_by_all


def kept(tally: BatchTally) -> tuple[dict[JobStatus, tuple], int]:
    per_status = {
        s.status: (s.jobs, s.downloaded, s.priced, round(s.spent * MICRO), round(s.charged * MICRO))
        for s in tally.statuses
    }
    return per_status, round(tally.spent_by_all * MICRO)


def assert_in_step(db: Database, batches: BatchRepository, batch_id: str) -> None:
    assert kept(batches.tally(batch_id)) == counted(db, batch_id)


def new_item(jobs: JobRepository, batches: BatchRepository, batch_id: str, name: str) -> str:
    job_id = uuid.uuid4().hex
    assert batches.claim_new_items(batch_id, [(name, f"key-{name}", job_id)]) == [name]
    jobs.create_many([NewJob("flux.1-dev", FLUX_PARAMS, job_id=job_id, batch_id=batch_id, item_name=name)])
    return job_id


def test_a_tally_follows_every_kind_of_change_a_batch_job_goes_through(db, jobs, batches):
    batch, _ = batches.open(name="icons", source="icons.yaml", out_dir="/tmp/icons", item_count=4)
    ids = [new_item(jobs, batches, batch.id, name) for name in ("sword", "shield", "bow", "axe")]
    single = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS).id
    assert_in_step(db, batches, batch.id)

    jobs.mark_status(ids[0], JobStatus.QUEUED)
    jobs.mark_status(single, JobStatus.SUCCESS)
    assert jobs.apply_snapshot(ids[1], scenario_job("job_1", "in-progress"))
    with db.session() as session:
        session.execute(update(Job).where(Job.id == ids[1]).values(cu_cost=2.5))
        session.execute(update(Job).where(Job.id == ids[2]).values(cu_cost=1.25, cu_refunded=1.25))
    assert_in_step(db, batches, batch.id)

    assert jobs.apply_snapshot(ids[1], scenario_job("job_1", "success"))
    batches.record_files(ids[1], [{"file": "shield.png", "sha256": "ab"}])
    jobs.dead_letter(ids[2], reason=DeadLetterReason.PERMANENT_ERROR, task_name="t", payload={}, error=None, attempts=1)
    assert_in_step(db, batches, batch.id)

    # A new version of the sword: the old job no longer counts, though what it spent still does.
    newer = uuid.uuid4().hex
    assert batches.claim_item(batch.id, "sword", "key-sword-2", newer, replacing=ids[0])
    assert_in_step(db, batches, batch.id)
    jobs.create_many([NewJob("flux.1-dev", FLUX_PARAMS, job_id=newer, batch_id=batch.id, item_name="sword")])
    jobs.mark_status(ids[0], JobStatus.CANCELED)
    assert_in_step(db, batches, batch.id)

    # A job written before its item's row (an interrupted claim) stops counting once the row names another.
    orphan = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=batch.id, item_name="helm").id
    assert_in_step(db, batches, batch.id)
    assert batches.claim_new_items(batch.id, [("helm", "key-helm", uuid.uuid4().hex)]) == ["helm"]
    assert_in_step(db, batches, batch.id)

    # A purge takes the item rows and jobs that ended; an item row gone makes its other versions count again.
    with db.session() as session:
        session.execute(delete(BatchItem).where(BatchItem.batch_id == batch.id, BatchItem.name == "helm"))
    assert_in_step(db, batches, batch.id)
    RetentionRepository(db).delete_chunk(datetime.now(timezone.utc) + timedelta(days=1), batch_id=batch.id)
    assert_in_step(db, batches, batch.id)
    assert {s.status: s.jobs for s in batches.tally(batch.id).statuses} == {JobStatus.CREATED: 3}
    assert jobs.get(orphan) is not None


def test_what_every_job_spent_stays_counted_when_its_item_moves_on(db, jobs, batches):
    batch, _ = batches.open(name="icons", source="icons.yaml", out_dir=None, item_count=1)
    first = new_item(jobs, batches, batch.id, "sword")
    with db.session() as session:
        session.execute(update(Job).where(Job.id == first).values(cu_cost=3.0, status=JobStatus.FAILURE))
    second = uuid.uuid4().hex
    assert batches.claim_item(batch.id, "sword", "key-2", second, replacing=first)
    jobs.create_many([NewJob("flux.1-dev", FLUX_PARAMS, job_id=second, batch_id=batch.id, item_name="sword")])

    tally = batches.tally(batch.id)

    assert [(s.status, s.jobs, s.spent) for s in tally.statuses] == [(JobStatus.CREATED, 1, 0.0)]
    assert tally.spent_by_all == 3.0


STATUSES = list(JobStatus)


def change_at_random(db: Database, jobs: JobRepository, batches: BatchRepository, batch_id: str, seed: int) -> None:
    """One writer of many: statuses moved either way, costs, files, and items moved to new versions."""
    rng = random.Random(seed)
    for _ in range(60):
        with db.session() as session:
            items = session.scalars(select(BatchItem).where(BatchItem.batch_id == batch_id)).all()
            item = rng.choice(items)
            name, current = item.name, item.job_id
        move = rng.random()
        if move < 0.5:
            values = {"status": rng.choice(STATUSES)}
            if rng.random() < 0.3:
                values["finished_at"] = datetime.now(timezone.utc)
            with db.session() as session:
                session.execute(update(Job).where(Job.id == current).values(**values))
        elif move < 0.65:
            with db.session() as session:
                cost = rng.choice([None, 1.0, 2.5])
                session.execute(update(Job).where(Job.id == current).values(cu_cost=cost, cu_refunded=cost and 0.5))
        elif move < 0.8:
            files = rng.choice([[], [{"file": f"{name}.png"}]])
            with contextlib.suppress(JobNotFound):  # the item's newest job, claimed but not written yet
                batches.record_files(current, files)
        else:
            newer = uuid.uuid4().hex
            if batches.claim_item(batch_id, name, f"key-{newer}", newer, replacing=current):
                jobs.create_many([NewJob("flux.1-dev", FLUX_PARAMS, job_id=newer, batch_id=batch_id, item_name=name)])


def test_racing_writers_leave_the_tally_equal_to_a_count_of_the_jobs(db, jobs, batches):
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: nothing races there")
    batch, _ = batches.open(name="icons", source="icons.yaml", out_dir=None, item_count=12)
    for n in range(12):
        new_item(jobs, batches, batch.id, f"item-{n}")
    failures: list[BaseException] = []

    def writer(seed: int) -> None:
        try:
            change_at_random(db, jobs, batches, batch.id, seed)
        except BaseException as exc:  # a deadlock or a refused write would end up here
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert_in_step(db, batches, batch.id)
    with db.session() as session:
        versions = session.scalar(select(Job.id).where(Job.batch_id == batch.id).limit(1).offset(12))
    assert versions is not None, "no item got a newer version: the race did not move any item"
