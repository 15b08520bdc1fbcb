"""What the pages show, worked out from snapshots: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from worker.cli.common import parse_when
from worker.errors import WorkerError
from worker.states import JobStatus

# Creative units are being added to job rows; whichever of these a row has is shown.
SPENT_ATTRIBUTES = ("cu_spent", "cu_cost", "creative_units")
ESTIMATE_ATTRIBUTES = ("cu_estimate", "cu_estimated", "cu_estimated_cost")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
DEFAULT_JOB_LIMIT = 100
MAX_JOB_LIMIT = 1000


class BadFilter(WorkerError, ValueError):
    """A filter of the jobs page cannot be used; says which field and what is allowed."""


@dataclass(frozen=True)
class JobFilter:
    status: JobStatus | None = None
    batch: str | None = None
    model_id: str | None = None
    tag: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_JOB_LIMIT


def parse_job_filter(args: Mapping[str, str], now: datetime) -> JobFilter:
    """The jobs page's query string as a filter; empty fields filter nothing."""
    values = {name: (args.get(name) or "").strip() for name in ("status", "batch", "model", "tag", "since", "until")}
    status = None
    if values["status"]:
        if values["status"] not in JobStatus._value2member_map_:
            allowed = ", ".join(s.value for s in JobStatus)
            raise BadFilter(f"status: {values['status']!r} is not one of {allowed}")
        status = JobStatus(values["status"])
    moments: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        try:
            moments[name] = parse_when(values[name], now) if values[name] else None
        except ValueError as exc:
            raise BadFilter(f"{name}: {exc}") from None
    raw_limit = (args.get("limit") or "").strip()
    if raw_limit and (not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_JOB_LIMIT):
        raise BadFilter(f"limit: {raw_limit!r} is not a whole number from 1 to {MAX_JOB_LIMIT}")
    return JobFilter(
        status=status,
        batch=values["batch"] or None,
        model_id=values["model"] or None,
        tag=values["tag"] or None,
        since=moments["since"],
        until=moments["until"],
        limit=int(raw_limit) if raw_limit else DEFAULT_JOB_LIMIT,
    )


def _first_number(job: object, names: Sequence[str]) -> float | None:
    for name in names:
        value = getattr(job, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def cost_of(job: object) -> float | None:
    """Creative units the job spent, when its row records them."""
    return _first_number(job, SPENT_ATTRIBUTES)


def estimate_of(job: object) -> float | None:
    """Creative units the job was expected to cost, when its row records them."""
    return _first_number(job, ESTIMATE_ATTRIBUTES)


@dataclass(frozen=True)
class BatchCost:
    spent: float | None
    estimated: float | None


def batch_cost(jobs: Iterable[object], items: int) -> BatchCost:
    """Units spent so far, and the whole batch's estimate: the jobs' own estimates, else spent per item so far."""
    jobs = list(jobs)
    spent = [c for c in map(cost_of, jobs) if c is not None]
    estimates = [e for e in map(estimate_of, jobs) if e is not None]
    total_spent = sum(spent) if spent else None
    if estimates:
        per_item = sum(estimates) / len(estimates)
        return BatchCost(total_spent, per_item * max(items, len(jobs)))
    if spent:
        return BatchCost(total_spent, sum(spent) / len(spent) * max(items, len(jobs)))
    return BatchCost(None, None)


def spent_and_estimate(spent: float, jobs: int, items: int) -> BatchCost:
    """Units `jobs` jobs spent, and the whole batch's estimate at that rate per item; nothing without jobs."""
    if jobs <= 0:
        return BatchCost(None, None)
    return BatchCost(spent, spent / jobs * max(items, jobs))


@dataclass(frozen=True)
class Step:
    when: str
    status: str
    details: dict[str, Any]


def timeline(history: Iterable[Any]) -> list[Step]:
    """Scenario's statusHistory as steps, keeping whatever else each entry says."""
    steps = []
    for entry in history:
        if not isinstance(entry, Mapping):
            steps.append(Step("?", str(entry), {}))
            continue
        rest = {k: v for k, v in entry.items() if k not in ("date", "status")}
        steps.append(Step(str(entry.get("date", "?")), str(entry.get("status", "?")), rest))
    return steps


@dataclass(frozen=True)
class ShownFile:
    index: int
    name: str
    is_image: bool
    record: Mapping[str, Any]


def shown_files(files: Iterable[Any]) -> list[ShownFile]:
    """A job's recorded files, each marked image or not; entries without a plain file name are left out."""
    shown = []
    for index, record in enumerate(files):
        name = plain_file_name(record)
        if name is not None:
            shown.append(ShownFile(index, name, PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES, record))
    return shown


def plain_file_name(record: Any) -> str | None:
    """The `file` of a recorded file when it is a bare name inside its folder, else None."""
    name = record.get("file") if isinstance(record, Mapping) else None
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name or "\x00" in name:
        return None
    return name


def percent(part: int, whole: int) -> int:
    return 0 if whole <= 0 else max(0, min(100, round(100 * part / whole)))
