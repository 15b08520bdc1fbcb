from __future__ import annotations

from collections.abc import Iterator

import pytest

from worker.scenario.client import ScenarioClient

SIM_KEY = "sim-key"
SIM_SECRET = "sim-secret"


@pytest.fixture
def sim() -> Iterator[object]:
    """The project's Scenario simulator on a free port, with short jobs."""
    from worker.simulator import Simulator, SimulatorConfig

    config = SimulatorConfig(api_key=SIM_KEY, api_secret=SIM_SECRET, job_duration_s=0.5)
    with Simulator(config, port=0) as simulator:
        yield simulator


@pytest.fixture
def client(sim) -> Iterator[ScenarioClient]:
    with ScenarioClient(sim.api_url, SIM_KEY, SIM_SECRET, connect_timeout_s=2.0, read_timeout_s=5.0) as c:
        yield c
