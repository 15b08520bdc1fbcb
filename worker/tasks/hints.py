"""The look a webhook asks for: one GET of the job, stored as the sweep stores what it lists.

A hint only wakes the look; Scenario's answer decides. A forged hint for a running job
therefore stores a running job, and a hint for a job already ended costs nothing at all.
The look runs beside the job's poll chain and the sweep, never instead of them: if it fails,
they are still on their way, so it is not retried and never dead-letters its job.
"""

from __future__ import annotations

import logging

from worker import runtime
from worker.celery_app import app
from worker.dispatch import free_slot
from worker.fleet.errors import FleetWait
from worker.labels import remember
from worker.scenario.errors import RateLimited, ScenarioError
from worker.states import JobStatus
from worker.tasks.base import GenerationTask, event, slow_the_fleet
from worker.tasks.sweep import SWEEP_429_WAIT_S, store_remote


class HintTask(GenerationTask):
    # A look that fails is dropped: the poll or the sweep sees the end a little later.
    autoretry_for = ()


@app.task(bind=True, base=HintTask, name="scenario.look_after_hint")
def look_after_hint(self: HintTask, job_id: str) -> None:
    rt = runtime.current()
    job = rt.jobs.get(job_id)
    if job is None or job.status.is_final or job.scenario_job_id is None:
        return
    # This process may never have seen the job: its log lines still name the batch and item.
    remember(job)
    try:
        remote = rt.client.get_job(job.scenario_job_id)
    except RateLimited as exc:
        slow_the_fleet(exc, SWEEP_429_WAIT_S)
        return
    except (ScenarioError, FleetWait) as exc:
        event(logging.INFO, "could not look after a hint", job_id, self, error=str(exc))
        return
    status = JobStatus.from_scenario(str(remote.get("status")))
    if status is not None and status.is_final:
        # As the sweep does: the slot goes back, and the next waiter's submit leaves, before any
        # row is written; the end stored below finds the slot free already.
        free_slot(job.id)
    store_remote(self, job, remote)
    # Written after the row took the answer, so whoever reads the line finds the row moved.
    event(
        logging.INFO,
        "looked after a hint",
        job_id,
        self,
        scenario_job_id=job.scenario_job_id,
        status=remote.get("status"),
    )
