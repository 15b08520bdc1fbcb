"""Batch items claimed by the database, Scenario jobs adopted only once, dead jobs taking their result."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.db.test_jobs import create
from worker.db.batches import BatchRepository
from worker.db.jobs import AdoptOutcome, ScenarioJobTaken
from worker.db.migrate import upgrade
from worker.db.models import DeadLetterReason
from worker.states import JobStatus


@pytest.fixture
def batches(db) -> BatchRepository:
    return BatchRepository(db)


def a_batch(batches: BatchRepository) -> str:
    batch, _ = batches.open(name=f"b-{uuid.uuid4().hex[:8]}", source="m.yaml", out_dir=None, item_count=1)
    return batch.id


def test_an_item_is_claimed_once_however_many_callers_race_for_it(batches):
    batch_id = a_batch(batches)
    wins: list[str] = []
    start = threading.Barrier(8)

    def claim(n: int) -> None:
        start.wait()
        job_id = f"{n:032d}"
        if batches.claim_item(batch_id, "sword", "k1", job_id, replacing=None):
            wins.append(job_id)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(wins) == 1
    assert batches.items(batch_id)["sword"].job_id == wins[0]


def test_an_item_moves_to_a_new_job_only_from_the_job_the_caller_saw(batches):
    batch_id = a_batch(batches)
    batches.claim_item(batch_id, "sword", "k1", "a" * 32, replacing=None)

    assert batches.claim_item(batch_id, "sword", "k2", "b" * 32, replacing="a" * 32)
    assert not batches.claim_item(batch_id, "sword", "k3", "c" * 32, replacing="a" * 32)
    item = batches.items(batch_id)["sword"]
    assert (item.item_key, item.job_id) == ("k2", "b" * 32)


def test_the_current_jobs_of_a_batch_are_the_ones_its_items_name(jobs, batches):
    batch_id = a_batch(batches)
    old = create(jobs, batch_id=batch_id, item_key="k1", item_name="sword")
    new = create(jobs, batch_id=batch_id, item_key="k2", item_name="sword")
    batches.claim_item(batch_id, "sword", "k1", old.id, replacing=None)

    assert batches.current_jobs(batch_id)["sword"].id == old.id
    batches.claim_item(batch_id, "sword", "k2", new.id, replacing=old.id)
    assert list(batches.current_jobs(batch_id)) == ["sword"]
    assert batches.current_jobs(batch_id)["sword"].id == new.id


def test_a_succeeded_job_whose_item_moved_on_is_not_downloaded(jobs, batches):
    batch_id = a_batch(batches)
    old = create(jobs, batch_id=batch_id, item_key="k1", item_name="sword")
    new = create(jobs, batch_id=batch_id, item_key="k2", item_name="sword")
    batches.claim_item(batch_id, "sword", "k2", new.id, replacing=None)
    for job, sid in ((old, "job_old"), (new, "job_new")):
        jobs.record_submitted(job.id, {"jobId": sid, "status": "success", "metadata": {"assetIds": ["a"]}})

    assert [j.id for j in batches.awaiting_download(batch_id)] == [new.id]


def test_a_scenario_job_held_by_another_row_is_taken_not_adopted(jobs):
    holder, seeker = create(jobs), create(jobs)
    jobs.record_submitted(holder.id, {"jobId": "job_shared", "status": "queued"})

    assert jobs.adopt(seeker.id, {"jobId": "job_shared", "status": "queued"}) is AdoptOutcome.TAKEN
    assert jobs.get(seeker.id).scenario_job_id is None
    assert jobs.adopt(seeker.id, {"jobId": "job_own", "status": "queued"}) is AdoptOutcome.ADOPTED
    assert jobs.adopt(seeker.id, {"jobId": "job_other", "status": "queued"}) is AdoptOutcome.ALREADY_SUBMITTED
    assert jobs.get(seeker.id).scenario_job_id == "job_own"


def test_recording_a_scenario_job_another_row_holds_raises_a_retryable_error_not_a_unique_violation(jobs):
    holder, other = create(jobs), create(jobs)
    jobs.record_submitted(holder.id, {"jobId": "job_shared", "status": "queued"})

    with pytest.raises(ScenarioJobTaken) as caught:
        jobs.record_submitted(other.id, {"jobId": "job_shared", "status": "queued"})
    assert caught.value.retryable


def test_the_unanswered_submit_marker_lives_from_the_send_until_an_answer_proves_it(jobs):
    job = create(jobs)
    jobs.record_attempt(job.id, None)
    assert jobs.get(job.id).unanswered_submit_at is not None
    jobs.record_error(job.id, {"status": 503, "retryable": True})
    assert jobs.get(job.id).unanswered_submit_at is not None  # Scenario may have made it
    jobs.end_search(job.id)
    assert jobs.get(job.id).unanswered_submit_at is None
    jobs.record_attempt(job.id, None)
    jobs.record_error(job.id, {"status": 400, "retryable": False})
    assert jobs.get(job.id).unanswered_submit_at is None
    jobs.record_attempt(job.id, None)
    jobs.record_submitted(job.id, {"jobId": "job_m", "status": "queued"})
    assert jobs.get(job.id).unanswered_submit_at is None


def test_a_dead_job_takes_the_success_of_its_own_scenario_job_only(jobs):
    job = create(jobs)
    jobs.record_submitted(job.id, {"jobId": "job_d", "status": "in-progress"})
    jobs.dead_letter(job.id, reason=DeadLetterReason.POISON, task_name="t", payload={}, error=None, attempts=1)

    assert not jobs.take_result(job.id, {"jobId": "job_other", "status": "success"})
    assert not jobs.take_result(job.id, {"jobId": "job_d", "status": "failure"})
    assert jobs.take_result(job.id, {"jobId": "job_d", "status": "success", "metadata": {"assetIds": ["x"]}})
    taken = jobs.get(job.id)
    assert (taken.status, taken.asset_ids) == (JobStatus.SUCCESS, ["x"])


NEW_BATCH = (
    "INSERT INTO batches (id, name, source, item_count, created_at, updated_at) VALUES (:i, 'b', 's', 1, :t, :t)"
)


def test_upgrading_an_old_database_gives_each_batch_item_its_newest_job(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0003")
    engine = create_engine(url)
    now = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(NEW_BATCH),
            {"i": "b" * 32, "t": now},
        )
        for job_id, created in (("1" * 32, "2026-01-01 00:00:01"), ("2" * 32, "2026-01-01 00:00:02")):
            conn.execute(
                text(
                    "INSERT INTO jobs (id, model_id, params, status, progress, status_history, asset_ids, attempts,"
                    " deliveries, poll_seq, polls, batch_id, item_key, item_name, tags, files, created_at, updated_at)"
                    " VALUES (:id, 'm', '{}', 'dead', 0, '[]', '[]', 0, 0, 0, 0, :b, 'k', 'sword', '[]', '[]', :c, :c)"
                ),
                {"id": job_id, "b": "b" * 32, "c": created},
            )
    engine.dispose()

    upgrade(url)

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, item_key, job_id FROM batch_items")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("sword", "k", "2" * 32)]
