"""Checks a command makes before it records anything: is the broker there to take the messages?"""

from __future__ import annotations

from kombu.exceptions import KombuError

from worker.errors import BrokerUnavailable

__all__ = ["BROKER_CHECK_TIMEOUT_S", "BrokerUnavailable", "require_broker"]

# A broker that has not answered in this long is taken to be down; the command stops before recording anything.
BROKER_CHECK_TIMEOUT_S = 5.0


def require_broker(*, timeout_s: float = BROKER_CHECK_TIMEOUT_S) -> None:
    """Connect to the configured broker once, or raise BrokerUnavailable.

    A job recorded while the broker is down would wait for a message that never
    comes, so every command that enqueues asks first.
    """
    from worker.celery_app import app

    with app.connection_for_write() as connection:
        # Each transport (Redis, AMQP, the embedded folder) names its own connection errors.
        errors = (KombuError, OSError, *connection.connection_errors, *connection.channel_errors)
        try:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout_s)
        except errors as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
