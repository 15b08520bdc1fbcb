"""A system on RabbitMQ: tasks really travel through it, in the lanes, with or without Redis beside it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system
from tests.services import throwaway_rabbitmq_vhost
from worker import enqueue_generation, lanes
from worker.simulator import SimulatorConfig
from worker.states import JobStatus

ON_RABBITMQ = pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True, scope="module")


def queues_in(vhost: str) -> set[str]:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "--no-table-headers"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(listed.stdout.split())


@ON_RABBITMQ
def test_the_worker_takes_its_tasks_from_rabbitmq_where_every_lane_is_declared(system):
    job = system.wait_for(enqueue_generation("a brass compass, carried by rabbitmq"))

    assert job.status is JobStatus.SUCCESS
    vhost = system.settings.broker_url.rsplit("/", 1)[1]
    assert f"transport:   amqp://guest:**@127.0.0.1:5672/{vhost}" in system.logs()
    assert set(lanes.ALL) <= queues_in(vhost)


@pytest.fixture(scope="module")
def rabbit_alone(sqlite_url_module, tmp_path_factory) -> Iterator[System]:
    """RabbitMQ and no Redis at all: the fleet's shared state is off."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=5)
    with (
        throwaway_rabbitmq_vhost() as broker_url,
        running_system(
            database_url=sqlite_url_module,
            broker_url=broker_url,
            workdir=tmp_path_factory.mktemp("rabbit-alone"),
            sim_config=config,
        ) as system,
    ):
        yield system


@pytest.fixture(scope="module")
def sqlite_url_module(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'jobs.db'}"


def test_on_rabbitmq_without_redis_jobs_still_run_and_the_worker_says_what_is_off(rabbit_alone):
    job = rabbit_alone.wait_for(enqueue_generation("a tin whistle, no redis anywhere"))

    assert job.status is JobStatus.SUCCESS
    assert rabbit_alone.settings.fleet_redis_url is None
    assert "no Redis for the fleet's shared state (set SCENARIO_REDIS_URL)" in rabbit_alone.logs()
