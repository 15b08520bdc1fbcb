"""Pure decisions about failed attempts: how long to wait, and how to record why."""

from __future__ import annotations

from typing import Any

from worker.errors import WorkerError
from worker.scenario.errors import PermanentError
from worker.waits import RETRY_AFTER_MARGIN_S

__all__ = ["RETRY_AFTER_MARGIN_S", "error_details", "is_permanent", "retry_countdown_s", "same_generation"]


def retry_countdown_s(proposed_s: float | None, error: BaseException | None) -> float:
    """The countdown for a retry: Celery's backoff, but never before `Retry-After`."""
    countdown = max(0.0, proposed_s or 0.0)
    retry_after = error.retry_after_s if isinstance(error, WorkerError) else None
    if retry_after is not None and retry_after > 0:
        countdown = max(countdown, retry_after + RETRY_AFTER_MARGIN_S)
    return countdown


def error_details(error: BaseException) -> dict[str, Any]:
    """A JSON-ready description of any error, for the job row and the dead-letter table."""
    if isinstance(error, WorkerError):
        return error.to_dict()
    return {
        "type": type(error).__name__,
        "status": None,
        "code": None,
        "message": str(error) or type(error).__name__,
        "retry_after_s": None,
        "retryable": False,
    }


def is_permanent(error: BaseException) -> bool:
    """Whether a failed attempt must go straight to the dead-letter table.

    Scenario's permanent answers, and this project's own refusals that no retry can
    change (an input the model's schema rejects, a model the key may not use).
    """
    return isinstance(error, PermanentError) or (isinstance(error, WorkerError) and not error.retryable)


def same_generation(sent: dict[str, Any], seen: dict[str, Any]) -> bool:
    """Whether a job Scenario holds was made from these parameters.

    Scenario echoes the input with its defaults filled in, so every field sent
    must be there unchanged; extra fields on Scenario's side do not matter.
    """
    return bool(sent) and all(key in seen and seen[key] == value for key, value in sent.items())
