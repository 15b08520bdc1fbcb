from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from tests.db.conftest import FLUX_PARAMS, scenario_job
from worker.db.models import DeadLetter, DeadLetterReason
from worker.states import JobStatus

BAD_REQUEST = {"type": "BadRequest", "status": 400, "code": "INVALID_PARAMETER", "message": '"prompt" is empty'}
SERVER_ERROR = {"type": "ServerError", "status": 503, "code": None, "message": "unavailable"}
TASK = "worker.tasks.submit_generation"


def dead_job(jobs, *, reason=DeadLetterReason.PERMANENT_ERROR, error=BAD_REQUEST, **payload):
    job = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS)
    return jobs.dead_letter(
        job.id, reason=reason, task_name=TASK, payload={"args": [job.id], **payload}, error=error, attempts=1
    )


def test_dead_lettering_stores_the_error_and_marks_the_job_dead(jobs):
    job = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS)
    jobs.record_submitted(job.id, scenario_job("job_first", status="queued"))

    letter = jobs.dead_letter(
        job.id,
        reason="retries_exhausted",
        task_name=TASK,
        payload={"args": [job.id], "kwargs": {}},
        error=SERVER_ERROR,
        attempts=9,
    )

    assert (letter.job_id, letter.reason, letter.attempts) == (job.id, DeadLetterReason.RETRIES_EXHAUSTED, 9)
    assert (letter.http_status, letter.error_code, letter.error_message) == (503, None, "unavailable")
    assert letter.scenario_job_id == "job_first"
    assert letter.status_history == [{"status": "queued", "date": "2025-06-20T15:30:05.356Z"}]
    assert letter.payload == {"model_id": "flux.1-dev", "params": FLUX_PARAMS, "args": [job.id], "kwargs": {}}
    dead = jobs.get(job.id)
    assert (dead.status, dead.last_error) == (JobStatus.DEAD, SERVER_ERROR)
    assert dead.finished_at is not None


def test_dead_lettering_a_job_twice_returns_the_first_letter(jobs, letters):
    first = dead_job(jobs)

    again = jobs.dead_letter(
        first.job_id, reason="poison", task_name="other", payload={}, error=SERVER_ERROR, attempts=5
    )

    assert again == first
    assert len(letters.list()) == 1
    assert jobs.get(first.job_id).last_error == BAD_REQUEST


def test_a_job_that_failed_on_scenario_keeps_its_status_when_dead_lettered(jobs):
    job = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS)
    jobs.record_submitted(job.id, scenario_job("job_first", status="queued"))
    jobs.apply_snapshot(job.id, scenario_job("job_first", status="failure", metadata={"error": "GPU lost"}))

    letter = jobs.dead_letter(job.id, reason="job_failed", task_name=TASK, payload={}, error=None, attempts=1)

    assert letter.error_message == "job failed"
    view = jobs.get(job.id)
    assert view.status is JobStatus.FAILURE
    assert view.last_error["message"] == "GPU lost"


def test_the_letter_and_the_dead_status_are_written_together(jobs, letters):
    job = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS)

    # The job's UPDATE is flushed before the letter's INSERT, which then breaks a
    # NOT NULL constraint: neither write may survive.
    with pytest.raises(IntegrityError):
        jobs.dead_letter(job.id, reason="poison", task_name=None, payload={}, error=None, attempts=1)

    assert letters.get_for_job(job.id) is None
    assert jobs.get(job.id).status is JobStatus.CREATED


def test_list_filters_by_code_status_reason_and_replay(jobs, letters):
    bad = dead_job(jobs)
    down = dead_job(jobs, reason=DeadLetterReason.RETRIES_EXHAUSTED, error=SERVER_ERROR)
    poison = dead_job(jobs, reason=DeadLetterReason.POISON, error=None)
    letters.mark_replayed(down.id, "r" * 32)

    assert [d.id for d in letters.list()] == [poison.id, down.id, bad.id]
    assert [d.id for d in letters.list(code="INVALID_PARAMETER")] == [bad.id]
    assert [d.id for d in letters.list(http_status=503)] == [down.id]
    assert [d.id for d in letters.list(reason="poison")] == [poison.id]
    assert [d.id for d in letters.list(replayed=True)] == [down.id]
    assert [d.id for d in letters.list(replayed=False)] == [poison.id, bad.id]
    assert [d.id for d in letters.list(limit=1)] == [poison.id]


def test_list_since_leaves_out_older_letters(jobs, letters, db):
    old, new = dead_job(jobs), dead_job(jobs)
    a_week_ago = datetime.now(timezone.utc) - timedelta(days=7)
    with db.session() as session:
        session.execute(update(DeadLetter).where(DeadLetter.id == old.id).values(created_at=a_week_ago))

    assert [d.id for d in letters.list(since=a_week_ago + timedelta(days=1))] == [new.id]


def test_get_reads_one_letter_by_id_or_none(jobs, letters):
    letter = dead_job(jobs)

    assert letters.get(letter.id) == letter
    assert letters.get(letter.id + 1000) is None
    assert letters.get_for_job(letter.job_id) == letter


def test_mark_replayed_records_only_the_first_replay(jobs, letters):
    letter = dead_job(jobs)

    assert letters.mark_replayed(letter.id, "1" * 32)
    assert not letters.mark_replayed(letter.id, "2" * 32)

    replayed = letters.get(letter.id)
    assert replayed.replayed_job_id == "1" * 32
    assert replayed.replayed_at is not None


def test_purge_deletes_only_letters_older_than_the_cutoff(jobs, letters, db):
    old, new = dead_job(jobs), dead_job(jobs)
    with db.session() as session:
        session.execute(
            update(DeadLetter)
            .where(DeadLetter.id == old.id)
            .values(created_at=datetime.now(timezone.utc) - timedelta(days=30))
        )

    assert letters.purge(datetime.now(timezone.utc) - timedelta(days=7)) == 1
    assert [d.id for d in letters.list()] == [new.id]
    assert letters.purge(datetime.now(timezone.utc) - timedelta(days=7)) == 0


def test_a_failure_snapshot_and_its_dead_letter_are_stored_in_one_go(jobs):
    job = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS)
    jobs.record_submitted(job.id, scenario_job("job_failing", status="queued"))
    history = [
        {"status": "queued", "date": "2025-06-20T15:30:05.356Z"},
        {"status": "failure", "date": "2025-06-20T15:30:09.001Z"},
    ]
    failed = scenario_job("job_failing", status="failure", statusHistory=history, metadata={"error": "NSFW"})

    letter = jobs.dead_letter(
        job.id,
        reason=DeadLetterReason.JOB_FAILED,
        task_name=TASK,
        payload={},
        error={"status": None, "code": "failure", "message": "NSFW"},
        attempts=1,
        snapshot=failed,
    )

    stored = jobs.get(job.id)
    assert stored.status is JobStatus.FAILURE and stored.status_history == history
    assert letter.status_history == history and letter.error_message == "NSFW"
