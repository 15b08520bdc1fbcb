"""The one root of every error this project raises on purpose.

Each layer has its own branch: the Scenario client's HTTP errors
(`worker.scenario.errors.ScenarioError`), the fleet's shared state in Redis
(`worker.fleet.errors.FleetError`), the settings (`worker.settings.SettingsError`).
Every error says whether a retry can help and, when it knows, how long to wait first.
"""

from __future__ import annotations

from typing import Any


class WorkerError(Exception):
    """Root of every error scenario-worker raises."""

    # Whether trying the same thing again later can succeed.
    retryable: bool = False
    # The earliest moment, in seconds from now, that a retry may come (None: no constraint).
    retry_after_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, for job rows, dead letters and logs."""
        return {
            "type": type(self).__name__,
            "status": None,
            "code": None,
            "message": str(self) or type(self).__name__,
            "retry_after_s": self.retry_after_s,
            "retryable": self.retryable,
        }


class JobNotFound(WorkerError, LookupError):
    """No job has this id; `get_job` and `cancel_job` both raise it."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job has id {job_id!r}")
        self.job_id = job_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.job_id,))


class InputError(WorkerError, ValueError):
    """Inputs a model does not accept; `problems` lists each one as a full sentence.

    A ValueError too, so that callers written before it existed still catch it.
    """

    def __init__(self, model_id: str, problems: list[str]) -> None:
        self.model_id = model_id
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:  # keep the fields when Celery pickles the error
        return (type(self), (self.model_id, self.problems))


class IdempotencyConflict(WorkerError, ValueError):
    """An idempotency key already names a job made for other inputs or options; nothing was queued.

    A key stands for one request: reusing it for another would silently hand back a job the
    caller did not ask for, so the existing job is named instead.
    """

    def __init__(self, key: str, job_id: str, differs: list[str]) -> None:
        self.key = key
        self.job_id = job_id
        self.differs = list(differs)
        super().__init__(
            f"idempotency_key {key!r} already names job {job_id}, made with other {', '.join(self.differs)}; "
            "use a new key for a different request"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.key, self.job_id, self.differs))


class BrokerUnavailable(WorkerError):
    """The broker did not answer or refused the connection; nothing was queued."""

    retryable = True

    def __init__(self, reason: str) -> None:
        super().__init__(f"the broker did not answer: {reason}")
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason,))


class DatabaseError(WorkerError):
    """The database refused a statement (a schema not migrated, a constraint); `reason` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the database refused: {reason}")
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason,))


class DatabaseUnavailable(DatabaseError):
    """The database did not answer or refused the connection; nothing was changed."""

    retryable = True

    def __init__(self, reason: str) -> None:
        WorkerError.__init__(self, f"the database did not answer: {reason}")
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason,))
