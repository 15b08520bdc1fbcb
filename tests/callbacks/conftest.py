from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.callbacks.receiver import Receiver
from tests.conftest import KEY, SECRET
from tests.harness import System, running_system
from tests.services import throwaway_broker
from worker.simulator import SimulatorConfig

CALLBACK_SECRET = "whsec_" + base64.b64encode(b"the receiver's key, 32 bytes lon").decode()
MAX_ATTEMPTS = 3
CALLBACK_ENV = {
    "SCENARIO_CALLBACK_SECRET": CALLBACK_SECRET,
    "SCENARIO_CALLBACK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "SCENARIO_CALLBACK_BACKOFF_S": "0.2",
    "SCENARIO_CALLBACK_BACKOFF_MAX_S": "0.5",
    "SCENARIO_CALLBACK_TIMEOUT_S": "2",
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver(CALLBACK_SECRET) as receiver:
        yield receiver


@pytest.fixture(autouse=True)
def _receiver_answers_200(request):
    yield
    if "receiver" in request.fixturenames:
        request.getfixturevalue("receiver").answer = 200


@pytest.fixture(scope="module")
def system(backend_url, broker, redis_url, tmp_path_factory) -> Iterator[System]:
    """The simulator, a migrated database and one worker, with callbacks signed by CALLBACK_SECRET."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=11)
    with (
        throwaway_broker(broker, redis_url) as broker_url,
        running_system(
            database_url=backend_url,
            broker_url=broker_url,
            redis_url=redis_url if broker == "redis" else None,
            workdir=tmp_path_factory.mktemp("workers"),
            sim_config=config,
            **CALLBACK_ENV,
        ) as system,
    ):
        yield system
