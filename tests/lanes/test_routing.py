"""Which lane each message goes to: a table of cases through Celery's own router."""

from __future__ import annotations

import pytest
from celery import Celery

from worker import lanes
from worker.celery_app import celery_config
from worker.settings import Settings


@pytest.fixture(scope="module")
def router():
    app = Celery("lanes-test", set_as_current=False)
    app.config_from_object(celery_config(Settings()))
    return app.amqp.router


CASES = [
    # task, options as the sender gives them, the routing key the message gets
    ("scenario.submit_generation", {}, lanes.SUBMIT),
    ("scenario.submit_generation", {"queue": lanes.submit_lane(None)}, lanes.SUBMIT),
    ("scenario.submit_generation", {"queue": lanes.submit_lane("batch-1")}, lanes.BATCH),
    ("scenario.poll_job", {}, lanes.WATCH),
    ("scenario.sweep", {}, lanes.WATCH),
    ("scenario.download_batch", {}, lanes.DOWNLOAD),
    # A retry is sent with the exchange and routing key its message was delivered with.
    ("scenario.submit_generation", {"exchange": lanes.BATCH, "routing_key": lanes.BATCH}, lanes.BATCH),
    ("scenario.poll_job", {"exchange": lanes.WATCH, "routing_key": lanes.WATCH}, lanes.WATCH),
]


@pytest.mark.parametrize(("task", "options", "lane"), CASES)
def test_each_message_goes_to_its_lane(router, task, options, lane):
    assert destination(router.route(dict(options), task, (), {})) == (lane, lane)


def test_a_task_outside_the_lanes_goes_to_the_single_job_lane(router):
    assert destination(router.route({}, "celery.ping", (), {})) == (lanes.SUBMIT, lanes.SUBMIT)


def destination(route: dict) -> tuple[str, str]:
    """The exchange and routing key a message is published with, as Celery picks them."""
    queue = route["queue"]
    exchange = route.get("exchange") or queue.exchange
    return getattr(exchange, "name", exchange), route.get("routing_key") or queue.routing_key


def test_a_queue_that_is_not_a_lane_is_refused_by_name():
    with pytest.raises(lanes.UnknownLane, match="'scenario.typo' is not a lane; use one of scenario.submit"):
        lanes.lane_of("scenario.submit_generation", "scenario.typo")


def test_a_worker_without_q_serves_every_lane_single_submits_first():
    config = celery_config(Settings())
    assert [q.name for q in config["task_queues"]] == list(lanes.ALL)
    assert lanes.ALL[0] == lanes.SUBMIT
