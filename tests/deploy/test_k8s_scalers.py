"""Each lane's KEDA scaler counts the messages that really wait in that lane, on each broker.

The scalers read the broker as KEDA does (a Redis list's length; a RabbitMQ queue's ready
messages through a passive declare over AMQP), named by the overlay's trigger metadata, while
the messages are published by the app's own router into a broker no worker consumes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu import Connection

from tests.deploy.kustomize import render
from tests.deploy.test_k8s import K8S, _container, _queues_served
from tests.harness import point_the_app_at
from tests.services import throwaway_broker
from worker import lanes
from worker.celery_app import app
from worker.settings import Settings


def _scaled_lanes(overlay: str) -> dict[str, dict[str, Any]]:
    """Each scaled Deployment's trigger metadata, by the Deployment's name."""
    return {
        obj["spec"]["scaleTargetRef"]["name"]: obj["spec"]["triggers"][0]["metadata"]
        for obj in render(K8S / "overlays" / overlay)
        if obj["kind"] == "ScaledObject"
    }


def _count_as_keda_does(broker_url: str, overlay: str, metadata: dict[str, Any]) -> int:
    if overlay == "redis":
        # The test's Redis database stands in for the databaseIndex of a real broker URL.
        client = redis.Redis.from_url(broker_url)
        try:
            return int(client.llen(metadata["listName"]))
        finally:
            client.close()
    with Connection(broker_url) as conn:
        declared = conn.default_channel.queue_declare(queue=metadata["queueName"], passive=True)
        return int(declared.message_count)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request, redis_url) -> Iterator[str]:
    with throwaway_broker(request.param, redis_url) as url:
        point_the_app_at(Settings.from_env({"CELERY_BROKER_URL": url}))
        try:
            yield url
        finally:
            if request.param == "redis":
                client = redis.Redis.from_url(url)
                client.delete(*lanes.ALL)
                client.close()
            # Back to the broker the environment names, as the app was before.
            point_the_app_at(Settings.from_env())


def _lane_served_by(overlay: str) -> dict[str, str]:
    """The lane each worker Deployment serves, by the Deployment's name."""
    return {
        obj["metadata"]["name"]: queue
        for obj in render(K8S / "overlays" / overlay)
        if obj["kind"] == "Deployment"
        for queue in _queues_served(_container(obj))
    }


def _counts(broker_url: str, overlay: str, scaled: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {name: _count_as_keda_does(broker_url, overlay, metadata) for name, metadata in scaled.items()}


def test_each_scaler_counts_the_messages_waiting_in_its_own_lane(broker_url):
    overlay = "redis" if broker_url.startswith("redis") else "rabbitmq"
    scaled = _scaled_lanes(overlay)
    served = _lane_served_by(overlay)
    assert sorted(served[name] for name in scaled) == sorted(lanes.ALL)
    # A message in every lane first, which also declares them all on RabbitMQ.
    for lane in lanes.ALL:
        app.send_task("scenario.poll_job", args=("no-such-job", 0), queue=lane)
    assert _counts(broker_url, overlay, scaled) == {name: 1 for name in scaled}

    for lane in lanes.ALL:
        for _ in range(2):
            app.send_task("scenario.poll_job", args=("no-such-job", 0), queue=lane)
        grown = {name: count for name, count in _counts(broker_url, overlay, scaled).items() if count != 1}
        assert {served[name]: count for name, count in grown.items()} == {lane: 3}
        _drain(broker_url, lane, keep=1)


def _drain(broker_url: str, lane: str, *, keep: int) -> None:
    if broker_url.startswith("redis"):
        client = redis.Redis.from_url(broker_url)
        client.ltrim(lane, 0, keep - 1)
        client.close()
        return
    with Connection(broker_url) as conn:
        channel = conn.default_channel
        while int(channel.queue_declare(queue=lane, passive=True).message_count) > keep:
            message = channel.basic_get(queue=lane, no_ack=True)
            assert message is not None
