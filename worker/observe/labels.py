"""Label values and derived numbers for the metrics: pure functions, no I/O.

Every label here comes from a short fixed list (a route template, an error class, a
status), never from an id, so a series count never grows with the number of jobs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from worker import lanes
from worker.states import JobStatus

# A path's resource, then the template it is counted under (ids replaced by their names).
_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (r"/generate/custom/[^/]+$", "/generate/custom/{modelId}"),
        (r"/generate/txt2img$", "/generate/txt2img"),
        (r"/jobs/[^/]+/action$", "/jobs/{jobId}/action"),
        (r"/jobs/[^/]+$", "/jobs/{jobId}"),
        (r"/jobs$", "/jobs"),
        (r"/assets/get-bulk$", "/assets/get-bulk"),
        (r"/assets/[^/]+$", "/assets/{assetId}"),
        (r"/assets$", "/assets"),
        (r"/models/[^/]+$", "/models/{modelId}"),
        (r"/teams/[^/]+/limits$", "/teams/{teamId}/limits"),
    )
)
DOWNLOAD_ROUTE = "GET {assetUrl}"
OTHER_ROUTE = "other"


def route_of(endpoint: str, method: str, path: str) -> str:
    """The route a request is counted under, e.g. `GET /jobs/{jobId}`: never a raw id.

    A signed asset download goes to a CDN whose paths are ids; it is one route of its own.
    """
    if endpoint == "download":
        return DOWNLOAD_ROUTE
    for pattern, template in _ROUTES:
        if pattern.search(path):
            return f"{method.upper()} {template}"
    return OTHER_ROUTE


def answer_label(status: int | None) -> str:
    """The HTTP code of an answer, or `error` when none came (refused, timed out, cut off)."""
    return "error" if status is None else str(status)


def reason_of(exc: BaseException | None) -> str:
    """A retry's or a wait's reason: its error's class in snake case (`RateLimited` -> `rate_limited`)."""
    if exc is None:
        return "unknown"
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", type(exc).__name__).lower()


def lane_of_job(batch_id: str | None) -> str:
    """The lane a job's transitions are counted under: its submit lane."""
    return lanes.submit_lane(batch_id)


def moved(before: JobStatus | None, after: JobStatus | None) -> bool:
    """Whether a write that stored `after` over `before` changed the job's status."""
    return after is not None and after is not before


def status_lag_s(scenario_job: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds from Scenario's own record of the job's final status to `now` (when our row took it).

    None when the job is not final or its history names no time for that status.
    """
    status = JobStatus.from_scenario(str(scenario_job.get("status")))
    history = scenario_job.get("statusHistory")
    if status is None or not status.is_final or not isinstance(history, list):
        return None
    for entry in reversed(history):
        if isinstance(entry, Mapping) and entry.get("status") == status.value:
            at = _instant(entry.get("date"))
            return None if at is None else max(0.0, (now - at).total_seconds())
    return None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None
