"""Celery workers for Scenario image generation.

`celery -A worker worker` finds the Celery app here; application code calls
`enqueue_generation(...)` (or `enqueue_many([...])`), reads jobs back with `get_job(...)` and stops
one with `cancel_job(...)`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "cancel_job", "enqueue_generation", "enqueue_many", "get_job"]


def __getattr__(name: str) -> Any:
    # Imported on first use so that the simulator and the CLI's light commands
    # do not pay for Celery and SQLAlchemy.
    if name == "app":
        from worker.celery_app import app

        return app
    if name in ("enqueue_generation", "enqueue_many", "get_job", "cancel_job"):
        from worker import producer

        return getattr(producer, name)
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
