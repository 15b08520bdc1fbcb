"""What the fleet's shared state can answer instead of going ahead."""

from __future__ import annotations

from worker.errors import WorkerError


class FleetError(WorkerError):
    """Root of the errors of the fleet's shared state."""


class FleetUnavailable(FleetError):
    """Redis, which holds the fleet's shared state, did not answer; a retry can help."""

    retryable = True


class FleetWait(FleetError):
    """Nothing was sent: the fleet says wait `retry_after_s` first. Waiting spends no retry."""

    retryable = True

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s

    def __reduce__(self):  # keep the wait when Celery pickles or copies the error
        return (type(self), (self.message,), {"retry_after_s": self.retry_after_s})


class Throttled(FleetWait):
    """The fleet's shared request budget says wait `retry_after_s`."""


class SubmitsPaused(FleetWait):
    """Submits are paused fleet-wide after Scenario refused the credentials or the payment."""


class SubmitInProgress(FleetWait):
    """Another delivery of the same task is submitting this job right now."""


class NotYetDue(FleetWait):
    """The job's `not_before` has not come: nothing is sent before it."""


class SlotWait(FleetWait):
    """Every parallel slot of the fleet is taken: the job waits for one, and is woken when one frees."""
