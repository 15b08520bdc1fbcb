"""Canceling a job that Scenario holds, and telling the caller truthfully what became of it.

Used by `cancel_job` (a job already on Scenario) and by the sender that finds a cancel
request waiting when its submit's answer comes back. Scenario decides: a job it had
already finished keeps its result and its cost, and the caller hears it was too late.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from worker import runtime
from worker.db.claims import CANCELED_BY_REQUEST
from worker.db.jobs import JobNotFound, JobView
from worker.states import JobStatus


class CancelOutcome(StrEnum):
    """How a cancel ended."""

    CANCELED = "canceled"  # canceled on Scenario, then here (any refund is in the row's units)
    CANCELED_LOCALLY = "canceled_locally"  # ended before anything was sent: Scenario never had it
    REQUESTED = "requested"  # a submit is in flight: its sender cancels the job on Scenario once it answers
    ALREADY_FINAL = "already_final"  # too late, or nothing to cancel: the row keeps its result and cost


@dataclass(frozen=True)
class CancelResult:
    job_id: str
    outcome: CancelOutcome
    status: JobStatus
    scenario_job_id: str | None

    @property
    def explanation(self) -> str:
        """One sentence a person can act on."""
        if self.outcome is CancelOutcome.CANCELED:
            return f"canceled on Scenario (Scenario job {self.scenario_job_id})"
        if self.outcome is CancelOutcome.CANCELED_LOCALLY:
            return "canceled before anything was sent; nothing was charged"
        if self.outcome is CancelOutcome.REQUESTED:
            return "a submit was in flight: it is canceled on Scenario as soon as Scenario answers it"
        return f"too late to cancel: it is already {self.status.value}"


def cancel_on_scenario(job: JobView) -> CancelResult:
    """Ask Scenario to cancel the job's Scenario job, then record what Scenario says.

    Raises ScenarioError when Scenario refuses or cannot be reached; the row is left as it was.
    """
    rt = runtime.current()
    assert job.scenario_job_id is not None
    answer = rt.client.cancel_job(job.scenario_job_id)
    remote = JobStatus.from_scenario(str(answer.get("status")))
    if remote is not None and remote.is_final and remote is not JobStatus.CANCELED:
        # Scenario finished it first: its watcher records the result (and frees its slot); it is kept.
        return CancelResult(job.id, CancelOutcome.ALREADY_FINAL, remote, job.scenario_job_id)
    if answer.get("jobId") == job.scenario_job_id:
        rt.jobs.apply_snapshot(job.id, answer)  # Scenario's status history, "canceled" included, and any refund
    rt.jobs.mark_status(job.id, JobStatus.CANCELED, error=CANCELED_BY_REQUEST)
    now = _reload(job.id)
    outcome = CancelOutcome.CANCELED if now.status is JobStatus.CANCELED else CancelOutcome.ALREADY_FINAL
    return CancelResult(job.id, outcome, now.status, now.scenario_job_id)


def result_of(job: JobView) -> CancelResult:
    """What a cancel came to, read from the row once it is settled."""
    if job.status is JobStatus.CANCELED:
        outcome = CancelOutcome.CANCELED if job.scenario_job_id else CancelOutcome.CANCELED_LOCALLY
    elif job.is_final:
        outcome = CancelOutcome.ALREADY_FINAL
    else:
        outcome = CancelOutcome.REQUESTED
    return CancelResult(job.id, outcome, job.status, job.scenario_job_id)


def _reload(job_id: str) -> JobView:
    job = runtime.current().jobs.get(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job
