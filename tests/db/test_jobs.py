from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from tests.db.conftest import FLUX_PARAMS, scenario_job
from worker.db.jobs import JobNotFound
from worker.db.models import Batch
from worker.states import JobStatus

HISTORY = [
    {"status": "queued", "date": "2025-06-20T15:30:05.356Z"},
    {"status": "in-progress", "date": "2025-06-20T15:30:05.539Z"},
]


def create(jobs, **kwargs):
    if kwargs.get("batch_id"):
        ensure_batch(jobs, kwargs["batch_id"])
    return jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS, **kwargs)


def ensure_batch(jobs, batch_id: str) -> None:
    """A batches row with this id, which a job's batch_id must point at."""
    with jobs._db.session() as session:
        if session.get(Batch, batch_id) is None:
            session.add(Batch(id=batch_id, name=f"batch-{batch_id[:8]}", source="test.yaml"))


def submitted(jobs, scenario_id="job_first"):
    job = create(jobs)
    jobs.record_submitted(job.id, scenario_job(scenario_id))
    return job


def test_a_created_job_can_be_read_back(jobs):
    deadline = datetime.now(timezone.utc) + timedelta(minutes=30)
    job = create(jobs, deadline_at=deadline, batch_id="b" * 32, item_key="wizard")

    read = jobs.get(job.id)
    assert read == job
    assert len(job.id) == 32
    assert (read.status, read.params, read.model_id) == (JobStatus.CREATED, FLUX_PARAMS, "flux.1-dev")
    assert (read.attempts, read.deliveries, read.poll_seq, read.status_history) == (0, 0, 0, [])
    assert read.deadline_at == deadline
    assert read.created_at.tzinfo is not None


def test_an_unknown_job_reads_as_none(jobs):
    assert jobs.get("0" * 32) is None


def test_creating_with_an_existing_id_returns_the_existing_job(jobs):
    first = create(jobs, job_id="f" * 32)

    again = jobs.create(model_id="other", params={"prompt": "other"}, job_id="f" * 32)

    assert again == first


def test_statuses_are_stored_as_their_values(jobs, db):
    job = create(jobs)
    jobs.apply_snapshot(job.id, scenario_job(status="in-progress"))

    with db.session() as session:
        stored = session.execute(text(f"SELECT status FROM {db.table('jobs')} WHERE id = :id"), {"id": job.id}).scalar()
    assert stored == "in-progress"


def test_get_many_keeps_the_order_asked_and_skips_unknown_ids(jobs):
    a, b = create(jobs), create(jobs)

    assert [j.id for j in jobs.get_many([b.id, "0" * 32, a.id, b.id])] == [b.id, a.id]


def test_list_is_newest_first_and_filters_by_status_and_batch(jobs):
    older = create(jobs, batch_id="1" * 32)
    newer = create(jobs, batch_id="1" * 32)
    other = create(jobs, batch_id="2" * 32)
    jobs.mark_status(older.id, JobStatus.QUEUED)

    assert [j.id for j in jobs.list()] == [other.id, newer.id, older.id]
    assert [j.id for j in jobs.list(batch_id="1" * 32)] == [newer.id, older.id]
    assert [j.id for j in jobs.list(status=JobStatus.QUEUED)] == [older.id]
    assert len(jobs.list(limit=2)) == 2


def test_count_by_status_counts_every_status_within_a_batch(jobs):
    a = create(jobs, batch_id="1" * 32)
    create(jobs, batch_id="1" * 32)
    create(jobs, batch_id="2" * 32)
    jobs.mark_status(a.id, JobStatus.DEAD)

    counts = jobs.count_by_status(batch_id="1" * 32)
    assert counts[JobStatus.CREATED] == 1
    assert counts[JobStatus.DEAD] == 1
    assert counts[JobStatus.SUCCESS] == 0
    assert set(counts) == set(JobStatus)
    assert sum(jobs.count_by_status().values()) == 3


def test_find_by_item_key_returns_the_newest_job_for_that_item(jobs):
    create(jobs, batch_id="1" * 32, item_key="wizard")
    replay = create(jobs, batch_id="1" * 32, item_key="wizard")
    create(jobs, batch_id="2" * 32, item_key="knight")

    assert jobs.find_by_item_key("1" * 32, "wizard").id == replay.id
    assert jobs.find_by_item_key("1" * 32, "knight") is None


def test_claim_delivery_counts_redeliveries_of_the_same_task(jobs):
    job = create(jobs)

    assert jobs.claim_delivery(job.id, "task-1") == 1
    assert jobs.claim_delivery(job.id, "task-1") == 2
    assert jobs.claim_delivery(job.id, "task-1") == 3
    assert jobs.claim_delivery(job.id, "task-2") == 1
    assert jobs.get(job.id).last_task_id == "task-2"


def test_record_attempt_counts_attempts_and_keeps_the_last_error(jobs):
    job = create(jobs)
    error = {"type": "RateLimited", "status": 429, "code": "RATE_LIMITED", "message": "slow down"}

    assert jobs.record_attempt(job.id, error) == 1
    assert jobs.get(job.id).last_error == error
    assert jobs.record_attempt(job.id, None) == 2
    assert jobs.get(job.id).last_error is None


def test_writes_to_an_unknown_job_raise_job_not_found(jobs):
    missing = "0" * 32
    for write in (
        lambda: jobs.claim_delivery(missing, "t"),
        lambda: jobs.record_attempt(missing, None),
        lambda: jobs.record_submitted(missing, scenario_job()),
        lambda: jobs.apply_snapshot(missing, scenario_job()),
        lambda: jobs.mark_status(missing, JobStatus.DEAD),
    ):
        with pytest.raises(JobNotFound):
            write()


def test_record_submitted_stores_scenarios_job_id_and_first_snapshot(jobs):
    job = create(jobs)

    view = jobs.record_submitted(job.id, scenario_job("job_first", status="queued"))

    assert view.scenario_job_id == "job_first"
    assert (view.status, view.scenario_status) == (JobStatus.QUEUED, "queued")
    assert view.submitted_at is not None


def test_record_submitted_twice_keeps_the_first_scenario_job(jobs):
    job = submitted(jobs, "job_first")
    jobs.apply_snapshot(job.id, scenario_job("job_first", status="in-progress", progress=0.5))

    again = jobs.record_submitted(job.id, scenario_job("job_second", status="queued"))

    assert again.scenario_job_id == "job_first"
    # The repeat did not roll the job back to the submit answer's status either.
    assert (again.status, again.progress) == (JobStatus.IN_PROGRESS, 0.5)


def test_a_snapshot_stores_status_history_verbatim(jobs):
    job = submitted(jobs)
    history = [*HISTORY, {"status": "upscaling", "date": "2025-06-20T15:30:09.000Z", "extra": {"n": 1}}]

    assert jobs.apply_snapshot(job.id, scenario_job("job_first", status="in-progress", statusHistory=history))

    assert jobs.get(job.id).status_history == history


def test_a_successful_snapshot_stores_assets_and_finishes_the_job(jobs):
    job = submitted(jobs)
    done = scenario_job("job_first", status="success", progress=1, metadata={"assetIds": ["asset_3ozW"]})

    jobs.apply_snapshot(job.id, done)

    view = jobs.get(job.id)
    assert (view.status, view.progress, view.asset_ids) == (JobStatus.SUCCESS, 1.0, ["asset_3ozW"])
    assert view.finished_at is not None


def test_a_failed_snapshot_records_scenarios_error(jobs):
    job = submitted(jobs)

    jobs.apply_snapshot(job.id, scenario_job("job_first", status="failure", metadata={"error": "GPU lost"}))

    view = jobs.get(job.id)
    assert view.status is JobStatus.FAILURE
    assert view.last_error["message"] == "GPU lost"


def test_a_snapshot_with_the_expected_poll_seq_applies_and_advances_it(jobs):
    job = submitted(jobs)

    assert jobs.apply_snapshot(job.id, scenario_job("job_first", status="in-progress"), expected_poll_seq=0)

    view = jobs.get(job.id)
    assert (view.poll_seq, view.polls, view.status) == (1, 1, JobStatus.IN_PROGRESS)


def test_a_snapshot_with_a_stale_poll_seq_does_not_apply(jobs):
    job = submitted(jobs)
    jobs.apply_snapshot(job.id, scenario_job("job_first", status="in-progress"), expected_poll_seq=0)

    applied = jobs.apply_snapshot(job.id, scenario_job("job_first", status="queued"), expected_poll_seq=0)

    assert not applied
    view = jobs.get(job.id)
    assert (view.poll_seq, view.polls, view.status) == (1, 1, JobStatus.IN_PROGRESS)


@pytest.mark.parametrize("final", ["success", "failure", "canceled"])
def test_a_final_status_is_never_overwritten_by_a_snapshot(jobs, final):
    job = submitted(jobs)
    jobs.apply_snapshot(job.id, scenario_job("job_first", status=final))

    assert not jobs.apply_snapshot(job.id, scenario_job("job_first", status="in-progress"))
    assert not jobs.mark_status(job.id, JobStatus.DEAD)
    assert jobs.get(job.id).status == JobStatus(final)


def test_an_unknown_scenario_status_is_kept_verbatim_and_leaves_the_status_alone(jobs):
    job = submitted(jobs)
    jobs.apply_snapshot(job.id, scenario_job("job_first", status="in-progress"))

    assert jobs.apply_snapshot(job.id, scenario_job("job_first", status="upscaling", progress=0.9))

    view = jobs.get(job.id)
    assert (view.scenario_status, view.status, view.progress) == ("upscaling", JobStatus.IN_PROGRESS, 0.9)
    assert view.finished_at is None


def test_a_snapshot_of_another_scenario_job_is_not_applied(jobs):
    job = submitted(jobs, "job_first")

    assert not jobs.apply_snapshot(job.id, scenario_job("job_someone_else", status="success"))
    assert jobs.get(job.id).status is JobStatus.QUEUED


def test_mark_status_to_a_final_status_sets_finished_at_and_the_error(jobs):
    job = create(jobs)
    error = {"status": None, "code": "DEADLINE", "message": "no answer in 30 minutes"}

    assert jobs.mark_status(job.id, JobStatus.DEAD, error=error)

    view = jobs.get(job.id)
    assert (view.status, view.last_error) == (JobStatus.DEAD, error)
    assert view.finished_at is not None


def test_every_write_moves_updated_at(jobs):
    job = create(jobs)

    jobs.claim_delivery(job.id, "task-1")

    assert jobs.get(job.id).updated_at >= job.updated_at
    assert jobs.get(job.id).updated_at != job.updated_at


def test_record_submitted_refuses_an_answer_without_a_job_id(jobs):
    job = create(jobs)

    with pytest.raises(ValueError, match="no jobId"):
        jobs.record_submitted(job.id, {"status": "queued"})
    assert jobs.get(job.id).scenario_job_id is None


def test_record_error_keeps_the_error_without_counting_another_attempt(jobs):
    job = create(jobs)
    jobs.record_attempt(job.id, None)
    error = {"type": "ServerError", "status": 502, "code": None, "message": "bad gateway"}

    jobs.record_error(job.id, error)

    view = jobs.get(job.id)
    assert (view.attempts, view.last_error) == (1, error)
    with pytest.raises(JobNotFound):
        jobs.record_error("0" * 32, error)


def test_a_scenario_job_id_is_known_once_a_job_holds_it(jobs):
    submitted(jobs, "job_first")

    assert jobs.is_known_scenario_job("job_first")
    assert not jobs.is_known_scenario_job("job_orphan")
