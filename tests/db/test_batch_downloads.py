"""What a download run reads: the items still to fetch, at most a run's worth, and their own history."""

from __future__ import annotations

from sqlalchemy import select, text

from tests.db.conftest import FLUX_PARAMS
from worker.db.batches import BatchRepository
from worker.db.jobs import JobRepository, NewJob
from worker.db.models import AWAITING_DOWNLOAD_PREDICATE, Job
from worker.states import JobStatus


def finished_batch(db, jobs: JobRepository, names: list[str]) -> tuple[BatchRepository, str, list[str]]:
    batches = BatchRepository(db)
    batch, _ = batches.open(name="icons", source="icons.yaml", out_dir="/tmp/icons", item_count=len(names))
    rows = [NewJob(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=batch.id, item_name=n) for n in names]
    ids = jobs.create_many(rows)
    for job_id in ids:
        jobs.mark_status(job_id, JobStatus.SUCCESS)
    return batches, batch.id, ids


def test_only_items_without_files_are_read_and_no_more_than_a_run_takes(db, jobs):
    batches, batch_id, ids = finished_batch(db, jobs, [f"icon-{n}" for n in range(6)])
    batches.record_files(ids[0], [{"file": "icon-0.png"}])
    batches.record_files(ids[1], [{"file": "icon-1.png"}])

    first = batches.awaiting_download(batch_id, limit=3)
    every = batches.awaiting_download(batch_id)

    assert [job.item_name for job in first] == ["icon-2", "icon-3", "icon-4"]
    assert {job.item_name for job in every} == {"icon-2", "icon-3", "icon-4", "icon-5"}


def test_an_items_history_holds_its_earlier_versions_and_no_other_item(db, jobs):
    batches, batch_id, ids = finished_batch(db, jobs, ["sword", "shield"])
    newer = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=batch_id, item_name="sword")

    history = batches.item_history(batch_id, ["sword"])

    assert [job.id for job in history] == [ids[0], newer.id]


def test_the_batches_with_a_download_left_are_told_apart_in_one_question(db, jobs):
    batches, waiting, _ = finished_batch(db, jobs, ["sword", "shield"])
    done, _ = batches.open(name="maps", source="maps.yaml", out_dir="/tmp/maps", item_count=1)
    (fetched,) = jobs.create_many([NewJob(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=done.id, item_name="n")])
    jobs.mark_status(fetched, JobStatus.SUCCESS)
    batches.record_files(fetched, [{"file": "n.png"}])
    running, _ = batches.open(name="runes", source="runes.yaml", out_dir="/tmp/runes", item_count=1)
    jobs.create_many([NewJob(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=running.id, item_name="r")])

    assert batches.awaiting_download_in([waiting, done.id, running.id]) == {waiting}
    assert batches.awaiting_download_in([]) == set()


def test_the_downloads_left_are_read_off_their_partial_index(db, jobs):
    batches, batch_id, _ = finished_batch(db, jobs, ["sword"])
    query = select(Job.id).where(text(AWAITING_DOWNLOAD_PREDICATE), Job.batch_id == batch_id)
    query = query.order_by(Job.finished_at, Job.id).limit(1)
    compiled = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.session() as session:
        if db.is_sqlite:
            plan = session.execute(text("EXPLAIN QUERY PLAN " + compiled)).all()
        else:
            # A tiny table is read whole unless told otherwise; what counts is that the index fits the query.
            session.execute(text("SET LOCAL enable_seqscan = off"))
            session.execute(text(f"SET LOCAL search_path TO {db.schema}"))
            plan = session.execute(text("EXPLAIN " + compiled)).all()
    assert "ix_jobs_awaiting_download" in " ".join(str(row) for row in plan)
