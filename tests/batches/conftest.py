from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, flush_broker, system_env
from tests.services import throwaway_postgres
from worker import runtime
from worker.db.migrate import upgrade
from worker.settings import Settings
from worker.simulator import Simulator, SimulatorConfig

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
    with throwaway_postgres() as database_url:
        upgrade(database_url)
        flush_broker(redis_url)
        config = SimulatorConfig(
            api_key=KEY,
            api_secret=SECRET,
            job_duration_s=0.5,
            seed=11,
            rate_limit_per_s=SIM_RATE_PER_S,
            rate_limit_burst=SIM_RATE_PER_S,
        )
        with Simulator(config, port=0) as sim:
            env = system_env(
                broker_url=redis_url,
                database_url=database_url,
                api_url=sim.api_url,
                key=KEY,
                secret=SECRET,
                SCENARIO_FLEET_REQUESTS_PER_S=str(FLEET_BUDGET_PER_S),
                **BUDGET_ENV,
            )
            settings = Settings.from_env(env)
            runtime.install(settings)
            system = System(settings=settings, sim=sim, env=env, workdir=tmp_path_factory.mktemp("fleet"))
            try:
                system.start_worker(name="fleet-a")
                system.start_worker(name="fleet-b")
                yield system
            finally:
                system.stop()
                flush_broker(redis_url)
                runtime.current().close()
                runtime.forget()


@pytest.fixture(autouse=True)
def _clean_limited_faults(request):
    yield
    if "limited_system" in request.fixturenames:
        request.getfixturevalue("limited_system").sim.faults.clear()
