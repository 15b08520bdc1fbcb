"""The fleet's gauges are read from the broker, Redis and the database when scraped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kombu import Connection

from tests.services import messages_ready, throwaway_broker
from worker import lanes
from worker.db.jobs import JobRepository
from worker.db.migrate import upgrade
from worker.db.session import Database
from worker.observe.fleet import FleetCollector
from worker.settings import Settings

WAITING = 3


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request, redis_url) -> Iterator[str]:
    with throwaway_broker(request.param, redis_url) as url:
        yield url


def publish(broker_url: str, lane: str, count: int) -> None:
    with Connection(broker_url) as connection:
        queue = next(q for q in lanes.queues() if q.name == lane)
        producer = connection.Producer()
        for n in range(count):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=queue.routing_key, declare=lanes.queues())


def purge(broker_url: str, lane: str) -> None:
    with Connection(broker_url) as connection:
        next(q for q in lanes.queues() if q.name == lane)(connection.channel()).purge()


def gauges(settings: Settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in FleetCollector(settings).collect()
        for sample in family.samples
    }


def test_queue_depths_and_the_oldest_unsent_job_are_read_at_scrape_time(broker_url, redis_url, database_url):
    upgrade(database_url)
    database = Database(database_url)
    try:
        JobRepository(database).create(model_id="flux.1-dev", params={"prompt": "a waiting anvil"})
    finally:
        database.dispose()
    settings = Settings.from_env({"CELERY_BROKER_URL": broker_url, "DATABASE_URL": database_url}, redis_url=redis_url)
    publish(broker_url, lanes.BATCH, WAITING)
    try:
        read = gauges(settings)
        ready = messages_ready(broker_url, lanes.BATCH)
    finally:
        purge(broker_url, lanes.BATCH)

    assert read[("scenario_queue_depth", (("lane", lanes.BATCH),))] == ready == WAITING
    assert read[("scenario_queue_depth", (("lane", lanes.SUBMIT),))] == 0
    assert read[("scenario_queue_oldest_age_seconds", (("lane", lanes.SUBMIT),))] > 0
    assert read[("scenario_queue_oldest_age_seconds", (("lane", lanes.BATCH),))] == 0
    assert read[("scenario_slots_in_use", ())] == 0
    assert read[("scenario_fleet_paused", (("reason", "credentials"),))] == 0


def test_a_source_that_does_not_answer_leaves_its_gauges_out_and_the_scrape_stands(database_url):
    upgrade(database_url)
    settings = Settings.from_env({"CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "DATABASE_URL": database_url})

    read = gauges(settings)

    assert not any(name in ("scenario_queue_depth", "scenario_slots_in_use") for name, _ in read)
    assert ("scenario_queue_oldest_age_seconds", (("lane", lanes.SUBMIT),)) in read


def test_todays_budget_shows_what_is_committed_and_with_a_limit_what_is_left(database_url):
    from worker.db.budgets import utc_day
    from worker.db.models import CuDay

    upgrade(database_url)
    database = Database(database_url)
    try:
        with database.session() as session:
            session.add(CuDay(day=utc_day(), committed=30.0))
    finally:
        database.dispose()
    env = {"CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "DATABASE_URL": database_url}

    limited = gauges(Settings.from_env({**env, "SCENARIO_DAILY_CU_BUDGET": "100"}))
    unlimited = gauges(Settings.from_env(env))

    budget = {labels[0][1]: value for (name, labels), value in limited.items() if name == "scenario_daily_budget_cu"}
    assert budget == {"committed": 30.0, "limit": 100.0, "left": 70.0}
    assert [labels for name, labels in unlimited if name == "scenario_daily_budget_cu"] == [(("state", "committed"),)]
