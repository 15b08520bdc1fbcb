"""The systems the submit path is raced on, and what the race tests read of Scenario."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system
from tests.services import throwaway_broker, throwaway_database
from worker import runtime
from worker.generation import GenerationRequest
from worker.simulator import SimulatorConfig

# The claim lives in the database whatever the broker: with Redis beside it, and with RabbitMQ
# and no Redis at all (each on one database here; tests/db runs the claims on both).
SYSTEMS = {"redis": ("redis", "postgres"), "rabbitmq-without-redis": ("rabbitmq", "sqlite")}


@pytest.fixture(scope="module", params=sorted(SYSTEMS))
def racing(request, redis_url, tmp_path_factory) -> Iterator[System]:
    """The simulator and a database; a worker is started by the tests that want one."""
    yield from _system(request.param, redis_url, tmp_path_factory)


@pytest.fixture(scope="module", params=sorted(SYSTEMS))
def stepping(request, redis_url, tmp_path_factory) -> Iterator[System]:
    """The same with no worker ever: the tests run the submit's steps themselves."""
    yield from _system(request.param, redis_url, tmp_path_factory)


def _system(name: str, redis_url: str, tmp_path_factory) -> Iterator[System]:
    broker, database = SYSTEMS[name]
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=23)
    with (
        throwaway_database(database, tmp_path_factory.mktemp("db")) as database_url,
        throwaway_broker(broker, redis_url) as broker_url,
        running_system(
            database_url=database_url,
            broker_url=broker_url,
            redis_url=redis_url if broker == "redis" else None,
            workdir=tmp_path_factory.mktemp("races"),
            sim_config=config,
            workers=(),
        ) as system,
    ):
        yield system


def unsent_job(prompt: str) -> str:
    """A job row ready to send, as enqueue records it, with no message for a worker to take."""
    rt = runtime.current()
    request = rt.preflight.prepare(GenerationRequest(prompt, width=256, height=256))
    return rt.jobs.create(model_id=request.model_id, params=request.to_params()).id


def made_on_scenario(system: System, prompt: str) -> list:
    return [r for r in system.sim.world.jobs() if r.input.get("prompt") == prompt]


def status_on_scenario(record) -> str:
    return record.state(time.time()).status


def sent_and_lost(job_id: str) -> None:
    """The job's sender sends it, Scenario makes it, and the sender dies with the answer (its claim lapses)."""
    from worker.tasks import submit
    from worker.tasks.submit import submit_generation

    rt = runtime.current()
    claim = submit.claim(job_id)
    job = submit.check(submit_generation, claim)
    rt.jobs.open_send(claim, hold_s=0.05)
    submit._post(job.model_id, job.params)
    time.sleep(0.1)
