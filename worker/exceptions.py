"""Every error a caller of the public API can meet, importable from one place.

All are `WorkerError`s; `InputError` and `IdempotencyConflict` are ValueErrors too, and
`JobNotFound` a LookupError, so code written against the built-in classes still catches them.
"""

from __future__ import annotations

from worker.errors import (
    BrokerUnavailable,
    DatabaseError,
    DatabaseUnavailable,
    IdempotencyConflict,
    InputError,
    JobNotFound,
    WorkerError,
)
from worker.fleet.errors import FleetError, FleetUnavailable
from worker.producer import EnqueueInterrupted
from worker.scenario.errors import NetworkError, PermanentError, ScenarioError, TransientError
from worker.settings import SettingsError

__all__ = [
    "BrokerUnavailable",
    "DatabaseError",
    "DatabaseUnavailable",
    "EnqueueInterrupted",
    "FleetError",
    "FleetUnavailable",
    "IdempotencyConflict",
    "InputError",
    "JobNotFound",
    "NetworkError",
    "PermanentError",
    "ScenarioError",
    "SettingsError",
    "TransientError",
    "WorkerError",
]
