"""Which Scenario jobs a submit whose answer was lost may have made.

A job's identity is every input it sent, its chosen seed above all: a Scenario job is a
candidate only when it echoes exactly those inputs. Used by the sender before it pays again
(`worker.tasks.lost_answer`) and by a replay of a dead job (`worker.deadletters`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from worker import runtime
from worker.db.views import JobView
from worker.errors import WorkerError
from worker.generation import inputs_of
from worker.retrying import same_generation
from worker.scenario.errors import BadRequest

# How far before the lost attempt left to look for the job it may have made (clock drift).
ORPHAN_LOOKBACK_S = 5.0


def candidates(job: JobView) -> Iterator[dict[str, Any]]:
    """Scenario's jobs made from exactly this job's inputs since its lost attempt left, newest first.

    Raises ScenarioError when Scenario's list cannot be read.
    """
    assert job.unanswered_submit_at is not None
    since = job.unanswered_submit_at - timedelta(seconds=ORPHAN_LOOKBACK_S)
    sent, (declared, defaults) = inputs_of(job.params), _schema_inputs(job.model_id)
    for candidate in created_since(since):
        input_ = (candidate.get("metadata") or {}).get("input") or {}
        if same_generation(sent, input_, model_id=job.model_id, defaults=defaults, declared=declared):
            yield candidate


def may_still_appear(job: JobView) -> bool:
    """Whether a job the lost attempt made may not be listed yet (its request may still be at work)."""
    if job.unanswered_submit_at is None:
        return False
    horizon_s = runtime.current().settings.answer_horizon_s
    return datetime.now(timezone.utc) - job.unanswered_submit_at < timedelta(seconds=horizon_s)


def created_since(since: datetime) -> Iterator[dict[str, Any]]:
    """Scenario's jobs created after `since`, newest first, stopping once the list passes it."""
    rt = runtime.current()
    try:
        jobs = rt.client.iter_jobs(created_after=since, page_size=100)
        first = next(jobs, None)
    except BadRequest:
        # A service without the time filter: page the whole list, stopping at the window's start.
        jobs = rt.client.iter_jobs(page_size=100)
        first = next(jobs, None)
    for candidate in itertools.chain([first] if first is not None else [], jobs):
        created = _timestamp(candidate.get("createdAt"))
        if created is not None and created < since:
            return
        yield candidate


def _schema_inputs(model_id: str) -> tuple[set[str] | None, dict[str, Any] | None]:
    """The model's input names and defaults, or (None, None) when its schema cannot be had.

    Without them every sent input must still match exactly; with them an echoed input
    this job did not send must be the model's default (or empty).
    """
    preflight = runtime.current().preflight
    if preflight is None:
        return None, None
    try:
        schema = preflight.catalogue.schema(model_id)
    except WorkerError:  # the schema only sharpens the match
        return None, None
    return {d.name for d in schema.inputs}, {d.name: d.default for d in schema.inputs if d.has_default}


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
