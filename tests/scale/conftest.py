from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system
from tests.services import throwaway_postgres
from worker.simulator import SimulatorConfig

JOB_S = 3.0
# The API's own endpoints; downloads come from signed URLs outside the request budget.
API_ENDPOINTS = ("submit", "get_job", "list_jobs", "cancel", "get_asset", "get_assets_bulk", "get_model")
# Production's watch settings, not the suite's quick ones: the figures are about what a job costs there.
WATCH_ENV = {
    "SCENARIO_SWEEP_INTERVAL_S": "2",
    "SCENARIO_SWEEP_STALE_AFTER_S": "30",
    "SCENARIO_POLL_INITIAL_S": "1",
    "SCENARIO_POLL_MAX_S": "30",
    "SCENARIO_VISIBILITY_TIMEOUT_S": "120",
    "SCENARIO_JOB_DEADLINE_S": "600",
    "SCENARIO_MAX_RETRIES": "8",
    "SCENARIO_LOG_LEVEL": "INFO",
}


@pytest.fixture(scope="module")
def scale_system(redis_url, tmp_path_factory) -> Iterator[System]:
    """The simulator rendering each job for 3 s, PostgreSQL, and two workers of concurrency 2."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=JOB_S, seed=13, max_jobs=20_000)
    with (
        throwaway_postgres() as database_url,
        running_system(
            database_url=database_url,
            broker_url=redis_url,
            workdir=tmp_path_factory.mktemp("scale"),
            sim_config=config,
            workers=("scale-a", "scale-b"),
            **WATCH_ENV,
        ) as system,
    ):
        yield system


def api_requests(system: System, endpoints: tuple[str, ...] = API_ENDPOINTS) -> int:
    requests = system.sim.stats()["requests"]
    return sum(sum(requests.get(endpoint, {}).values()) for endpoint in endpoints)
