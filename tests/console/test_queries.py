"""The repository queries the console adds, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tests.services import throwaway_database
from worker.db.deadletters import DeadLetterRepository
from worker.db.jobs import JobRepository
from worker.db.migrate import upgrade
from worker.db.models import DeadLetterReason
from worker.db.session import Database
from worker.states import JobStatus

PARAMS = {"modelId": "flux.1-dev", "prompt": "a wizard", "numSamples": 1, "width": 512, "height": 512}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path) -> Iterator[Database]:
    with throwaway_database(request.param, tmp_path) as url:
        upgrade(url)
        database = Database(url)
        yield database
        database.dispose()


def make(jobs: JobRepository, model_id: str = "flux.1-dev", tags: tuple[str, ...] = ()) -> str:
    return jobs.create(model_id=model_id, params={**PARAMS, "modelId": model_id}, tags=tags).id


def test_jobs_are_searched_by_model_tag_status_and_creation_time(db):
    jobs = JobRepository(db)
    sword = make(jobs, tags=("weapon", "common"))
    wand = make(jobs, model_id="sdxl", tags=("weapon_x",))
    odd = make(jobs, tags=('50% "rare"',))
    jobs.mark_status(wand, JobStatus.DEAD, error=None)
    now = datetime.now(timezone.utc)

    def ids(**filters) -> set[str]:
        return {job.id for job in jobs.search(**filters)}

    assert ids(tag="weapon") == {sword}  # a whole tag, not a part of another one
    assert ids(tag='50% "rare"') == {odd}  # wildcards and quotes are taken literally
    assert ids(tag="50") == set()
    assert ids(model_id="sdxl") == {wand}
    assert ids(status=JobStatus.DEAD) == {wand}
    assert ids(since=now - timedelta(minutes=1)) == {sword, wand, odd}
    assert ids(until=now - timedelta(minutes=1)) == set()
    assert len(jobs.search(limit=2)) == 2


def test_dead_letters_are_counted_by_reason_code_and_status(db):
    jobs, letters = JobRepository(db), DeadLetterRepository(db)

    def bury(code: str | None, status: int | None, reason=DeadLetterReason.PERMANENT_ERROR) -> int:
        job_id = make(jobs)
        error = {"status": status, "code": code, "message": "refused"}
        return jobs.dead_letter(job_id, reason=reason, task_name="t", payload={}, error=error, attempts=1).id

    first = bury("BAD_PROMPT", 400)
    bury("BAD_PROMPT", 400)
    bury(None, None, DeadLetterReason.POISON)
    letters.mark_replayed(first, "f" * 32)

    groups = {(g.reason, g.error_code, g.http_status): (g.count, g.not_replayed) for g in letters.groups()}

    assert groups == {
        (DeadLetterReason.PERMANENT_ERROR, "BAD_PROMPT", 400): (2, 1),
        (DeadLetterReason.POISON, None, None): (1, 1),
    }
    assert letters.groups()[0].error_code == "BAD_PROMPT"  # the largest group first
