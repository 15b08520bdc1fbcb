"""Celery workers for Scenario image generation.

`celery -A worker worker` finds the Celery app here; application code calls
`enqueue_generation(...)` (or `enqueue_many([...])`) with `options=JobOptions(...)`, reads
jobs back with `get_job(...)`, stops one with `cancel_job(...)`, waits for one to end with
`wait_for(...)` (`worker.aio` has the same as coroutines), and may set its settings with
`configure(...)` instead of the environment. Every error it can meet is a `WorkerError`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.cancellation import CancelOutcome, CancelResult
    from worker.celery_app import app
    from worker.configuration import configure
    from worker.db.views import JobView
    from worker.errors import (
        BrokerUnavailable,
        DatabaseError,
        DatabaseUnavailable,
        IdempotencyConflict,
        InputError,
        JobNotFound,
        WorkerError,
    )
    from worker.fleet.errors import FleetUnavailable
    from worker.generation import GenerationRequest
    from worker.options import JobOptions
    from worker.producer import EnqueueInterrupted, cancel_job, enqueue_generation, enqueue_many, get_job
    from worker.scenario.errors import ScenarioError
    from worker.settings import Settings, SettingsError
    from worker.states import JobStatus
    from worker.waiting import WaitTimeout, wait_for

# Where each public name lives. Imported on first use, so that the simulator and the CLI's
# light commands do not pay for Celery and SQLAlchemy.
_HOMES = {
    "app": "worker.celery_app",
    "configure": "worker.configuration",
    "enqueue_generation": "worker.producer",
    "enqueue_many": "worker.producer",
    "get_job": "worker.producer",
    "cancel_job": "worker.producer",
    "EnqueueInterrupted": "worker.producer",
    "CancelOutcome": "worker.cancellation",
    "CancelResult": "worker.cancellation",
    "JobView": "worker.db.views",
    "JobOptions": "worker.options",
    "GenerationRequest": "worker.generation",
    "JobStatus": "worker.states",
    "Settings": "worker.settings",
    "SettingsError": "worker.settings",
    "WorkerError": "worker.errors",
    "BrokerUnavailable": "worker.errors",
    "DatabaseError": "worker.errors",
    "DatabaseUnavailable": "worker.errors",
    "IdempotencyConflict": "worker.errors",
    "InputError": "worker.errors",
    "JobNotFound": "worker.errors",
    "FleetUnavailable": "worker.fleet.errors",
    "ScenarioError": "worker.scenario.errors",
    "wait_for": "worker.waiting",
    "WaitTimeout": "worker.waiting",
}

__all__ = [
    "BrokerUnavailable",
    "CancelOutcome",
    "CancelResult",
    "DatabaseError",
    "DatabaseUnavailable",
    "EnqueueInterrupted",
    "FleetUnavailable",
    "GenerationRequest",
    "IdempotencyConflict",
    "InputError",
    "JobNotFound",
    "JobOptions",
    "JobStatus",
    "JobView",
    "ScenarioError",
    "Settings",
    "SettingsError",
    "WaitTimeout",
    "WorkerError",
    "app",
    "cancel_job",
    "configure",
    "enqueue_generation",
    "enqueue_many",
    "get_job",
    "wait_for",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'worker' has no attribute {name!r}")
    return getattr(import_module(home), name)
