"""Pure decisions about failed attempts: how long to wait, and how to record why."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from worker.errors import WorkerError
from worker.fleet.errors import FleetWait
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


class LookAgain(FleetWait):
    """The search for a lost submit answer could not finish (Scenario's list failed, or the job it
    answered with is held by another row); it is tried again without spending a submit's try."""


class AnswerMayStillCome(LookAgain):
    """An earlier submit's answer was lost and Scenario may still be making its job: nothing is
    looked for or sent until that can no longer happen."""


def same_generation(
    sent: Mapping[str, Any],
    seen: Mapping[str, Any],
    *,
    model_id: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    declared: Collection[str] | None = None,
) -> bool:
    """Whether a job Scenario holds (`seen`: its `metadata.input`) was made from exactly these inputs.

    Every input sent must be echoed unchanged (a seed compared as the string Scenario keeps),
    and the model must be the same when Scenario names it. When the model's inputs are known
    (`declared`, with their `defaults`), an input of the model that Scenario echoes but this
    job did not send must be its default or empty: a job carrying inputs this one did not
    send is someone else's. Echoed keys that are no input of the model (the route's own
    `type`, `hideResults`...) say nothing about who sent the job.
    """
    model_id = model_id or sent.get("modelId")
    if model_id is not None and seen.get("modelId") not in (None, model_id):
        return False
    inputs = {k: v for k, v in sent.items() if k != "modelId"}
    if not inputs:
        return False
    for key, value in inputs.items():
        if key not in seen or not _same_value(key, value, seen[key]):
            return False
    if defaults is None and declared is None:
        return True
    defaults = defaults or {}
    declared = set(declared if declared is not None else defaults)
    extra = (k for k in seen if k in declared and k not in inputs)
    return all(_unsent_value_is_neutral(seen[k], k, defaults) for k in extra)


def _unsent_value_is_neutral(value: Any, key: str, defaults: Mapping[str, Any]) -> bool:
    if key in defaults and _same_value(key, defaults[key], value):
        return True
    return value is None or value == "" or value == []


def _same_value(key: str, sent: Any, seen: Any) -> bool:
    if key == "seed" and sent is not None and seen is not None:
        # Scenario keeps seeds as strings: 42 sent is "42" echoed.
        return str(sent) == str(seen)
    return sent == seen and type(sent) is type(seen) or (_is_number(sent) and _is_number(seen) and sent == seen)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
