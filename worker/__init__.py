"""Celery workers for Scenario image generation.

`celery -A worker worker` finds the Celery app here; application code calls
`enqueue_generation(...)` (or `enqueue_many([...])`), reads jobs back with `get_job(...)` and stops
one with `cancel_job(...)`, and waits for one to end with `wait_for(...)`; `worker.aio` has
the same as coroutines.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "cancel_job", "enqueue_generation", "enqueue_many", "get_job", "wait_for"]


def __getattr__(name: str) -> Any:
    # Imported on first use so that the simulator and the CLI's light commands
    # do not pay for Celery and SQLAlchemy.
    if name == "app":
        from worker.celery_app import app

        return app
    if name in ("enqueue_generation", "enqueue_many", "get_job", "cancel_job"):
        from worker import producer

        return getattr(producer, name)
    if name == "wait_for":
        from worker.waiting import wait_for

        return wait_for
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
