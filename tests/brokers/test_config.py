"""Celery's configuration for each broker: what applies to Redis only stays off RabbitMQ."""

from __future__ import annotations

from worker.celery_app import celery_config
from worker.settings import Settings


def test_redis_gets_a_visibility_timeout_and_a_quick_restore_of_abandoned_messages():
    config = celery_config(Settings(broker_url="redis://localhost:6379/3", visibility_timeout_s=600))
    assert config["broker_transport_options"]["visibility_timeout"] == 600
    assert config["broker_transport_options"]["unacked_restore_interval"] == 60
    assert config["result_backend_transport_options"]["visibility_timeout"] == 600


def test_rabbitmq_gets_no_visibility_timeout_but_confirmed_publishes():
    config = celery_config(Settings(broker_url="amqp://guest:guest@127.0.0.1:5672//"))
    assert config["broker_transport_options"] == {"confirm_publish": True}
    assert "result_backend_transport_options" not in config


def test_both_brokers_ack_late_and_put_back_the_tasks_of_a_lost_worker():
    for url in ("redis://localhost:6379/3", "amqp://guest:guest@127.0.0.1:5672//"):
        config = celery_config(Settings(broker_url=url))
        assert config["task_acks_late"] and config["task_reject_on_worker_lost"], url
