from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system
from tests.services import throwaway_postgres
from worker.simulator import SimulatorConfig

# The simulator refuses a key more than this many requests a second (and a burst of as many);
# the fleet's own budget sits below it, so the fleet never meets the simulator's limit.
SIM_RATE_PER_S = 8
FLEET_BUDGET_PER_S = SIM_RATE_PER_S - 2
# A task that finds the budget spent comes back later as a retry, and the messages
# behind it wait in a worker's memory meanwhile. The suite's quick settings (three
# retries, a 6 s visibility timeout) are too tight for a fleet kept under a budget:
# items would run out of retries, or be handed to a second worker while still
# waiting. These are the production retries and a timeout still far below its.
BUDGET_ENV = {"SCENARIO_MAX_RETRIES": "8", "SCENARIO_VISIBILITY_TIMEOUT_S": "30"}


@pytest.fixture(scope="module")
def limited_system(redis_url, tmp_path_factory) -> Iterator[System]:
    """A rate-limited simulator, PostgreSQL, and two workers (concurrency 2) sharing one request budget."""
    config = SimulatorConfig(
        api_key=KEY,
        api_secret=SECRET,
        job_duration_s=0.5,
        seed=11,
        rate_limit_per_s=SIM_RATE_PER_S,
        rate_limit_burst=SIM_RATE_PER_S,
    )
    with (
        throwaway_postgres() as database_url,
        running_system(
            database_url=database_url,
            broker_url=redis_url,
            workdir=tmp_path_factory.mktemp("fleet"),
            sim_config=config,
            workers=("fleet-a", "fleet-b"),
            SCENARIO_FLEET_REQUESTS_PER_S=str(FLEET_BUDGET_PER_S),
            **BUDGET_ENV,
        ) as system,
    ):
        yield system


@pytest.fixture(autouse=True)
def _clean_limited_faults(request):
    yield
    if "limited_system" in request.fixturenames:
        request.getfixturevalue("limited_system").sim.faults.clear()
