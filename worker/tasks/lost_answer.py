"""Finding the Scenario job a lost submit answer stood for, so that it is adopted rather than paid twice.

A job's identity is every input it sent, its chosen seed above all: a Scenario job is
adopted only when it echoes exactly those inputs, and only if no other row holds it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from worker import runtime
from worker.db.jobs import AdoptOutcome, JobView
from worker.errors import WorkerError
from worker.generation import inputs_of
from worker.retrying import LookAgain, same_generation
from worker.scenario.errors import BadRequest, ScenarioError
from worker.tasks.base import GenerationTask, event

# How far before the lost attempt left to look for the job it may have made (clock drift).
ORPHAN_LOOKBACK_S = 5.0
# How long a failing search for a lost answer is retried before the job is submitted in doubt.
LOST_ANSWER_SEARCH_MAX_S = 300.0


def find_earlier_submission(task: GenerationTask, job: JobView) -> JobView:
    """Adopt the Scenario job a lost answer stood for, if Scenario has one made from exactly this job's inputs.

    Candidates are read newest first from the moment the lost attempt left (less a margin
    for clocks) until the list passes that moment. A match another row already holds is
    skipped; one carrying other inputs is never taken. Not found, or in doubt: the marker
    is cleared and the caller submits, the doubt kept in the log and last error.
    """
    rt = runtime.current()
    assert job.unanswered_submit_at is not None
    since = job.unanswered_submit_at - timedelta(seconds=ORPHAN_LOOKBACK_S)
    sent, (declared, defaults) = inputs_of(job.params), _schema_inputs(job.model_id)
    taken = 0
    try:
        for candidate in _created_since(since):
            input_ = (candidate.get("metadata") or {}).get("input") or {}
            if not same_generation(sent, input_, model_id=job.model_id, defaults=defaults, declared=declared):
                continue
            outcome = rt.jobs.adopt(job.id, candidate)
            if outcome is AdoptOutcome.TAKEN:
                taken += 1
                continue
            adopted = rt.jobs.get(job.id) or job
            if outcome is AdoptOutcome.ADOPTED:
                event(logging.INFO, "adopted an earlier submission", job.id, task, scenario_job_id=candidate["jobId"])
            return adopted
    except ScenarioError as exc:
        searched_s = (_now() - job.unanswered_submit_at).total_seconds()
        if exc.retryable and searched_s < LOST_ANSWER_SEARCH_MAX_S:
            raise LookAgain(f"could not look for a lost submit answer: {exc}", retry_after_s=exc.retry_after_s) from exc
        return _submit_in_doubt(task, job, f"the lost submit answer could not be looked for ({exc})")
    if taken:
        return _submit_in_doubt(task, job, f"{taken} Scenario job(s) with the same inputs are held by other jobs")
    rt.jobs.end_search(job.id)
    return rt.jobs.get(job.id) or job


def _created_since(since: datetime) -> Iterator[dict[str, Any]]:
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


def _submit_in_doubt(task: GenerationTask, job: JobView, why: str) -> JobView:
    doubt = {"type": "LostAnswerInDoubt", "status": None, "code": "IN_DOUBT", "message": f"submitted again: {why}"}
    event(logging.WARNING, "submitting in doubt", job.id, task, reason=why)
    rt = runtime.current()
    rt.jobs.end_search(job.id, doubt=doubt)
    return rt.jobs.get(job.id) or job


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


def _now() -> datetime:
    return datetime.now(timezone.utc)
