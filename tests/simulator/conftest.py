from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.simulator.helpers import ApiClient
from worker.simulator import Simulator, SimulatorConfig

StartSimulator = Callable[..., Simulator]


@pytest.fixture
def start_simulator() -> Iterator[StartSimulator]:
    """Starts simulators on free ports with short jobs; stops them all at the end of the test."""
    running: list[Simulator] = []

    def start(**overrides: Any) -> Simulator:
        config = SimulatorConfig(**{"job_duration_s": 0.2, "seed": 1234, **overrides})
        simulator = Simulator(config).start()
        running.append(simulator)
        return simulator

    yield start
    for simulator in running:
        simulator.stop()


@pytest.fixture
def sim(start_simulator: StartSimulator) -> Simulator:
    return start_simulator()


@pytest.fixture
def api(sim: Simulator) -> Iterator[ApiClient]:
    client = ApiClient(sim.api_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def shared_api() -> Iterator[ApiClient]:
    """One simulator for the tests whose answers do not depend on what came before."""
    simulator = Simulator(SimulatorConfig(job_duration_s=0.3, seed=1234)).start()
    client = ApiClient(simulator.api_url)
    yield client
    client.close()
    simulator.stop()
