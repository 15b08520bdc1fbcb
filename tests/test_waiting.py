"""`wait_for` wakes on a job's end: with Redis it reads the row a handful of times however long the
job runs; without Redis (RabbitMQ alone) a slow recheck finds the end."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system
from tests.services import throwaway_broker
from worker import cancel_job, enqueue_generation, runtime, wait_for
from worker.db.jobs import JobNotFound
from worker.simulator import SimulatorConfig
from worker.states import JobStatus
from worker.waiting import WaitTimeout


@pytest.fixture(scope="module", params=["redis", "rabbitmq-without-redis"])
def system(request, backend_url, redis_url, tmp_path_factory) -> Iterator[System]:
    with_redis = request.param == "redis"
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=5)
    with (
        throwaway_broker("redis" if with_redis else "rabbitmq", redis_url) as broker_url,
        running_system(
            database_url=backend_url,
            broker_url=broker_url,
            redis_url=redis_url if with_redis else None,
            workdir=tmp_path_factory.mktemp("workers"),
            sim_config=config,
        ) as system,
    ):
        yield system


class JobReads:
    """Counts the statements this process sends that read the jobs table."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM jobs" in statement:
            self.count += 1


def test_wait_for_returns_the_job_once_it_has_ended(system):
    job_id = enqueue_generation("a silver ring, waited for")

    job = wait_for(job_id, timeout_s=60)

    assert job.id == job_id and job.status is JobStatus.SUCCESS and job.asset_ids


def read_while_waiting(job_id: str, **options) -> tuple[object, int, float]:
    reads = JobReads()
    engine = runtime.current().database.engine
    event.listen(engine, "before_cursor_execute", reads)
    started = time.monotonic()
    try:
        job = wait_for(job_id, timeout_s=60, **options)
    finally:
        event.remove(engine, "before_cursor_execute", reads)
    return job, reads.count, time.monotonic() - started


def test_the_row_is_read_a_handful_of_times_however_long_the_job_runs(system):
    prompt = "a slow-growing crystal, waited for"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=6)
    job_id = enqueue_generation(prompt)

    with_redis = runtime.current().redis is not None

    job, reads, elapsed = read_while_waiting(job_id, recheck_s=None if with_redis else 1)

    assert job.status is JobStatus.SUCCESS
    if with_redis:
        # Before and after subscribing, after the subscription's confirmation, after the end's
        # message; a loop polling every 100 ms would have read it some seventy times.
        assert reads <= 4
    else:
        # Without Redis the end is found by the recheck: one read a second, no more.
        assert reads <= 2 + elapsed


def test_a_job_that_does_not_end_in_time_raises_a_timeout_and_runs_on(system):
    prompt = "a glacier, too slow to wait for"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=120)
    job_id = enqueue_generation(prompt)

    with pytest.raises(WaitTimeout) as caught:
        wait_for(job_id, timeout_s=1.5)

    assert isinstance(caught.value, TimeoutError)
    assert caught.value.job_id == job_id and not caught.value.job.is_final
    assert not runtime.current().jobs.get(job_id).is_final
    cancel_job(job_id)


def test_an_unknown_job_or_a_bad_timeout_is_refused(system):
    with pytest.raises(JobNotFound):
        wait_for("no-such-job", timeout_s=1)
    with pytest.raises(ValueError, match="timeout_s"):
        wait_for("no-such-job", timeout_s=-1)
