from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import System, running_system
from tests.services import throwaway_postgres, throwaway_redis_db
from worker.simulator import SimulatorConfig


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> Iterator[str]:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        with throwaway_postgres() as url:
            yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with throwaway_redis_db() as url:
        yield url


KEY, SECRET = "test-key", "test-secret-do-not-log-8f2c1a"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'jobs.db'}"
    else:
        with throwaway_postgres() as url:
            yield url


@pytest.fixture(scope="module")
def system(backend_url, redis_url, tmp_path_factory) -> Iterator[System]:
    """The simulator, a migrated database and one worker with concurrency 2."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=7)
    workdir = tmp_path_factory.mktemp("workers")
    with running_system(database_url=backend_url, broker_url=redis_url, workdir=workdir, sim_config=config) as system:
        yield system


@pytest.fixture(autouse=True)
def _clean_faults(request):
    yield
    if "system" in request.fixturenames:
        request.getfixturevalue("system").sim.faults.clear()
