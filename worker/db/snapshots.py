"""What a Scenario job object means for its row: a pure mapping, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from worker.states import JobStatus

FAILED_WITHOUT_REASON = "Scenario reported the job as failed without a reason"


def snapshot_values(scenario_job: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """Column name -> value that `scenario_job` (the object inside `{"job": ...}`) sets.

    A field that is missing or of the wrong type sets nothing, so a partial
    answer never erases what an earlier one stored.
    """
    values: dict[str, Any] = {}
    metadata = scenario_job.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}

    raw_status = scenario_job.get("status")
    if isinstance(raw_status, str):
        values["scenario_status"] = raw_status
        # An unknown status is stored verbatim above and leaves `status` alone.
        status = JobStatus.from_scenario(raw_status)
        if status is not None:
            values["status"] = status
            if status.is_final:
                values["finished_at"] = now
            if status is JobStatus.FAILURE:
                values["last_error"] = failure_error(metadata.get("error"))

    progress = scenario_job.get("progress")
    if isinstance(progress, (int, float)) and not isinstance(progress, bool):
        values["progress"] = float(progress)

    history = scenario_job.get("statusHistory")
    if isinstance(history, list):
        values["status_history"] = history

    asset_ids = metadata.get("assetIds")
    if isinstance(asset_ids, list):
        values["asset_ids"] = asset_ids
    values.update(billing_values(scenario_job.get("billing"), values.get("status")))
    return values


def billing_values(billing: Any, status: JobStatus | None) -> dict[str, Any]:
    """What a job's `billing` says it cost; a failed job is refunded unless Scenario says otherwise."""
    if not isinstance(billing, Mapping):
        return {}
    cost = billing.get("cuCost")
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0:
        return {}
    values: dict[str, Any] = {"cu_cost": float(cost)}
    if status is JobStatus.FAILURE and billing.get("disableRefund") is not True:
        values["cu_refunded"] = float(cost)
    return values


def failure_error(error: Any) -> dict[str, Any]:
    """The error dict (status, code, message) for a job Scenario ended in `failure`."""
    code = None
    message = error if isinstance(error, str) and error else None
    if isinstance(error, Mapping):
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = error.get("message") if isinstance(error.get("message"), str) else None
    return {
        "type": "JobFailed",
        "status": None,
        "code": code,
        "message": message or FAILED_WITHOUT_REASON,
    }
