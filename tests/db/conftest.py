from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.services import throwaway_postgres
from worker.db.deadletters import DeadLetterRepository
from worker.db.jobs import JobRepository
from worker.db.migrate import upgrade
from worker.db.session import Database

FLUX_PARAMS = {"modelId": "flux.1-dev", "prompt": "a low-poly wizard", "numSamples": 1, "width": 1024, "height": 1024}


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[Database]:
    """One migrated PostgreSQL database for the whole run: creating one per test costs more than the test."""
    with throwaway_postgres() as url:
        upgrade(url)
        database = Database(url)
        yield database
        database.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty migrated database; each test that takes it runs on SQLite and on PostgreSQL."""
    if request.param == "postgres":
        database = request.getfixturevalue("migrated_postgres")
        with database.session() as session:
            tables = ("callback_deliveries", "dead_letters", "jobs", "batch_items", "batch_tallies", "batches")
            names = (*tables, "cu_days")
            session.execute(text(f"TRUNCATE {', '.join(database.table(name) for name in names)}"))
        yield database
        return
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
def jobs(db: Database) -> JobRepository:
    return JobRepository(db)


@pytest.fixture
def letters(db: Database) -> DeadLetterRepository:
    return DeadLetterRepository(db)


def scenario_job(job_id: str = "job_aZ67MsuuyQ5JawJekta3V7yD", status: str = "queued", **fields) -> dict:
    """A Scenario job object as the API returns it inside {"job": ...}."""
    history = fields.pop("statusHistory", [{"status": status, "date": "2025-06-20T15:30:05.356Z"}])
    metadata = {"input": FLUX_PARAMS, **fields.pop("metadata", {})}
    return {
        "jobId": job_id,
        "jobType": "flux",
        "status": status,
        "progress": fields.pop("progress", 0),
        "statusHistory": history,
        "metadata": metadata,
        "createdAt": "2025-06-20T15:30:05.356Z",
        "updatedAt": "2025-06-20T15:30:05.356Z",
        **fields,
    }
