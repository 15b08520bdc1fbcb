"""What a download run reads: the items still to fetch, at most a run's worth, and their own history."""

from __future__ import annotations

from tests.db.conftest import FLUX_PARAMS
from worker.db.batches import BatchRepository
from worker.db.jobs import JobRepository, NewJob
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
