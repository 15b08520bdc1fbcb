"""Adopting the Scenario job a lost submit answer stood for, rather than paying twice.

The candidates are found by `worker.lost_answers` (exactly this job's inputs); one is
adopted only if no other row holds it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from worker import runtime
from worker.db.jobs import AdoptOutcome, JobView
from worker.lost_answers import candidates
from worker.retrying import LookAgain
from worker.scenario.errors import ScenarioError
from worker.tasks.base import GenerationTask, event

# How long a failing search for a lost answer is retried before the job is submitted in doubt.
LOST_ANSWER_SEARCH_MAX_S = 300.0


def find_earlier_submission(task: GenerationTask, job: JobView) -> JobView:
    """Adopt the Scenario job a lost answer stood for, if Scenario has one made from exactly this job's inputs.

    A match another row already holds is skipped; one carrying other inputs is never taken.
    Not found, or in doubt: the marker is cleared and the caller submits, the doubt kept in
    the log and last error.
    """
    rt = runtime.current()
    assert job.unanswered_submit_at is not None
    taken = 0
    try:
        for candidate in candidates(job):
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


def _submit_in_doubt(task: GenerationTask, job: JobView, why: str) -> JobView:
    doubt = {"type": "LostAnswerInDoubt", "status": None, "code": "IN_DOUBT", "message": f"submitted again: {why}"}
    event(logging.WARNING, "submitting in doubt", job.id, task, reason=why)
    rt = runtime.current()
    rt.jobs.end_search(job.id, doubt=doubt)
    return rt.jobs.get(job.id) or job


def _now() -> datetime:
    return datetime.now(timezone.utc)
