"""Reading Scenario's JSON answers: pure functions, no I/O.

Each reader takes an already-parsed body and either returns the part the
caller wants or raises `UnexpectedResponse` naming what was missing, so a
change on Scenario's side shows up as one clear error instead of a KeyError
deep inside a task.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from worker.scenario.errors import UnexpectedResponse

# The fields each resource must carry for the worker to act on it; the rest of
# the contract's fields are passed through untouched rather than enforced, so a
# field Scenario drops one day does not stop every job.
JOB_KEYS = ("jobId", "status")
ASSET_KEYS = ("id",)
MODEL_KEYS = ("id",)

COST_KEY = "creativeUnitsCost"
DISCOUNT_KEY = "creativeUnitsDiscount"


@dataclass(frozen=True)
class JobPage:
    """One page of `GET /jobs`: the jobs and the cursor to the next page (None on the last)."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    next_token: str | None = None


def unwrap(body: Any, key: str, required: tuple[str, ...], *, what: str) -> dict[str, Any]:
    """`{key: {...}}` -> the inner object, which must carry every name in `required`."""
    if not isinstance(body, Mapping):
        raise UnexpectedResponse(f"{what}: the answer is not a JSON object")
    inner = body.get(key)
    if not isinstance(inner, Mapping):
        raise UnexpectedResponse(f"{what}: the answer has no {key!r} object")
    return checked(dict(inner), required, what=f"{what}: {key}")


def checked(item: Any, required: tuple[str, ...], *, what: str) -> dict[str, Any]:
    """`item` as a dict, after making sure it is an object carrying every name in `required`."""
    if not isinstance(item, Mapping):
        raise UnexpectedResponse(f"{what} is not a JSON object")
    missing = [name for name in required if item.get(name) in (None, "")]
    if missing:
        raise UnexpectedResponse(f"{what} is missing {', '.join(repr(m) for m in missing)}")
    return dict(item)


def unwrap_list(body: Any, key: str, required: tuple[str, ...], *, what: str) -> list[dict[str, Any]]:
    """`{key: [{...}, ...]}` -> the list of objects, each carrying every name in `required`."""
    if not isinstance(body, Mapping):
        raise UnexpectedResponse(f"{what}: the answer is not a JSON object")
    items = body.get(key)
    if not isinstance(items, list):
        raise UnexpectedResponse(f"{what}: the answer has no {key!r} list")
    return [checked(item, required, what=f"{what}: {key}[{i}]") for i, item in enumerate(items)]


def job_page(body: Any) -> JobPage:
    """`{"jobs": [...], "nextPaginationToken": "..."}` -> JobPage; an empty token means the end."""
    jobs = unwrap_list(body, "jobs", JOB_KEYS, what="list jobs")
    token = body.get("nextPaginationToken")
    if token is not None and not isinstance(token, str):
        raise UnexpectedResponse("list jobs: 'nextPaginationToken' is not a string")
    return JobPage(jobs=jobs, next_token=token or None)


@dataclass(frozen=True)
class Submission:
    """A started job and what Scenario said it costs, in creative units (None when the answer did not say)."""

    job: dict[str, Any]
    creative_units_cost: float | None = None
    creative_units_discount: float | None = None


@dataclass(frozen=True)
class Estimate:
    """What a dry run says a job would cost, in creative units."""

    creative_units_cost: float
    creative_units_discount: float = 0.0


def submission(body: Any, *, what: str) -> Submission:
    """`{"job": {...}, "creativeUnitsCost": n, "creativeUnitsDiscount": n}` -> Submission.

    The costs may instead sit in the job's `billing` (`cuCost`, `cuDiscount`); the legacy route
    may send none, and a job is not refused for lacking them.
    """
    job = unwrap(body, "job", JOB_KEYS, what=what)
    billing = job.get("billing") if isinstance(job.get("billing"), Mapping) else {}
    cost = _first_amount(((body, COST_KEY), (billing, "cuCost")), what=what)
    discount = _first_amount(((body, DISCOUNT_KEY), (billing, "cuDiscount")), what=what)
    return Submission(job=job, creative_units_cost=cost, creative_units_discount=discount)


def estimate(body: Any) -> Estimate:
    """A dry run's answer (HTTP 269) -> Estimate; the cost is read at the top level, or under `job` or `job.billing`."""
    if not isinstance(body, Mapping):
        raise UnexpectedResponse("estimate cost: the answer is not a JSON object")
    job = body.get("job") if isinstance(body.get("job"), Mapping) else {}
    billing = job.get("billing") if isinstance(job.get("billing"), Mapping) else {}
    places = (body, job, billing)
    cost = _first_amount(tuple((place, COST_KEY) for place in places), what="estimate cost")
    if cost is None:
        raise UnexpectedResponse(f"estimate cost: the answer has no {COST_KEY!r}")
    discount = _first_amount(
        tuple((place, DISCOUNT_KEY) for place in places) + ((billing, "cuDiscount"),), what="estimate cost"
    )
    return Estimate(creative_units_cost=cost, creative_units_discount=discount or 0.0)


def creative_units_cost(body: Any) -> float:
    """The `creativeUnitsCost` of a dry run, read at the top level, or under `job` or `job.billing`."""
    return estimate(body).creative_units_cost


def _first_amount(places: tuple[tuple[Any, str], ...], *, what: str) -> float | None:
    for place, key in places:
        if isinstance(place, Mapping) and place.get(key) is not None:
            return _amount(place[key], key, what=what)
    return None


def _amount(raw: Any, key: str, *, what: str) -> float:
    # bool is an int subclass; `true` as a cost is a broken answer, not 1 unit.
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw < 0:
        raise UnexpectedResponse(f"{what}: {key!r} is not a non-negative number: {raw!r}")
    return float(raw)


def team_limits(body: Any) -> dict[str, Any]:
    """`{"limits": {...}}`, or the limits at the top level -> the limits."""
    if not isinstance(body, Mapping):
        raise UnexpectedResponse("get team limits: the answer is not a JSON object")
    inner = body.get("limits")
    if isinstance(inner, Mapping):
        return dict(inner)
    if "limits" in body:
        raise UnexpectedResponse("get team limits: 'limits' is not a JSON object")
    return dict(body)


def iso_timestamp(value: datetime | str) -> str:
    """A datetime as Scenario writes them (`2025-06-20T15:30:05.356Z`); strings pass as given.

    A naive datetime is taken to be UTC, which is how the job table stores them.
    """
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def asset_ids_of(job: Mapping[str, Any]) -> list[str]:
    """The ids of a job's results: under `metadata.assetIds` (as Scenario's example job has them) or top-level."""
    metadata = job.get("metadata") if isinstance(job.get("metadata"), Mapping) else {}
    for place in (metadata, job):
        ids = place.get("assetIds")
        if isinstance(ids, list) and ids:
            return [i for i in ids if isinstance(i, str) and i]
    return []


def error_of(job: Mapping[str, Any]) -> str | None:
    """A failed job's error text, from `metadata.error` or a top-level `error`; None when there is none."""
    metadata = job.get("metadata") if isinstance(job.get("metadata"), Mapping) else {}
    for place in (metadata, job):
        text = place.get("error")
        if isinstance(text, str) and text:
            return text
    return None
