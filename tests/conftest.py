from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import throwaway_postgres, throwaway_redis_db


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
