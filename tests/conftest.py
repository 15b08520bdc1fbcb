from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import System, running_system
from tests.scenario.canned import CannedServer
from tests.services import throwaway_broker, throwaway_database, throwaway_postgres, throwaway_redis_db
from worker.scenario.client import ScenarioClient
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
    with throwaway_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with throwaway_redis_db() as url:
        yield url


KEY, SECRET = "test-key", "test-secret-do-not-log-8f2c1a"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend_url(request, tmp_path_factory) -> Iterator[str]:
    """The same as `database_url`, for a whole module's running system."""
    with throwaway_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def broker(request) -> str:
    """The broker a module's system runs on: Redis, unless the module parametrizes it (see BOTH_BROKERS)."""
    return getattr(request, "param", "redis")


# `pytestmark = BOTH_BROKERS` runs every test of a module on Redis and on RabbitMQ.
BOTH_BROKERS = pytest.mark.parametrize("broker", ["redis", "rabbitmq"], indirect=True, scope="module")


# A module whose subject is not the database engine runs its system on PostgreSQL alone, production's
# engine: `pytestmark = ON_POSTGRES`. The engines' own behaviour is tested on both (tests/db), and so
# is every system path whose outcome a database decides (claims, races, recovery, dead letters).
ON_POSTGRES = pytest.mark.on_postgres


# A module of system tests on both engines and both brokers runs two of the four pairs: PostgreSQL
# with Redis (production's pair) and SQLite with RabbitMQ. Each engine and each broker still meets
# every test; what an engine alone decides is tested on both in tests/db.
PAIRED = {("postgres", "redis"), ("sqlite", "rabbitmq")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    dropped = [item for item in items if _sqlite_twin_of_a_postgres_only_test(item) or _unpaired(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        kept = set(map(id, items)) - set(map(id, dropped))
        items[:] = [item for item in items if id(item) in kept]


def _unpaired(item: pytest.Item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    on_both_brokers = any(
        mark.args[0] == "broker" and set(mark.args[1]) == {"redis", "rabbitmq"}
        for mark in item.iter_markers("parametrize")
    )
    return on_both_brokers and "backend_url" in params and (params["backend_url"], params["broker"]) not in PAIRED


def _sqlite_twin_of_a_postgres_only_test(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    on_sqlite = callspec is not None and callspec.params.get("backend_url") == "sqlite"
    return on_sqlite and item.get_closest_marker("on_postgres") is not None


@pytest.fixture(scope="module")
def system(backend_url, broker, redis_url, tmp_path_factory) -> Iterator[System]:
    """The simulator, a migrated database and one worker with concurrency 2; the fleet's state in Redis."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=7)
    workdir = tmp_path_factory.mktemp("workers")
    with (
        throwaway_broker(broker, redis_url) as broker_url,
        running_system(
            database_url=backend_url, broker_url=broker_url, redis_url=redis_url, workdir=workdir, sim_config=config
        ) as system,
    ):
        yield system


@pytest.fixture(autouse=True)
def _clean_faults(request):
    yield
    if "system" in request.fixturenames:
        request.getfixturevalue("system").sim.faults.clear()


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    """A real HTTP server on a free port that gives the answers a test queues, in order."""
    with CannedServer() as server:
        yield server


@pytest.fixture
def canned_client(canned) -> Iterator[ScenarioClient]:
    with ScenarioClient(f"{canned.url}/v1", "key-1", "secret-1", connect_timeout_s=2.0, read_timeout_s=5.0) as c:
        yield c
