"""The simulated account's state: jobs, their assets, and the credits left per owner."""

from __future__ import annotations

import secrets
import string
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from worker.simulator.lifecycle import JobState, JobTimes, job_state
from worker.simulator.messages import ApiError
from worker.simulator.models import Model

_ID_ALPHABET = string.ascii_letters + string.digits
# How many of the oldest jobs are looked at for one that can be forgotten, per new job.
_EVICTION_SCAN = 64


def new_id(prefix: str) -> str:
    """`job_aZ67MsuuyQ5JawJekta3V7yD`-like ids, unique across runs (not drawn from the seed)."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


@dataclass(frozen=True)
class JobRecord:
    """Everything fixed about a job at creation, plus the time it was canceled."""

    job_id: str
    owner_id: str
    author_id: str
    model: Model
    input: dict[str, Any]
    times: JobTimes
    error: str | None
    asset_ids: tuple[str, ...]
    cu_cost: int

    def state(self, now: float) -> JobState:
        return job_state(self.times, now)


class World:
    """Jobs in creation order, assets by id, credits by owner; guarded by one lock."""

    def __init__(self, *, max_jobs: int, credits: float) -> None:
        self._lock = threading.Lock()
        self._max_jobs = max_jobs
        self._initial_credits = credits
        self._jobs: OrderedDict[str, JobRecord] = OrderedDict()
        self._asset_jobs: dict[str, str] = {}
        self._credits: dict[str, float] = {}

    def credits_left(self, owner_id: str) -> float:
        with self._lock:
            return self._credits.get(owner_id, self._initial_credits)

    def create_job(
        self,
        *,
        owner_id: str,
        author_id: str,
        model: Model,
        inputs: dict[str, Any],
        duration_s: float,
        error: str | None,
        cu_cost: int,
        now: float,
    ) -> JobRecord:
        """Charge the owner and keep a new job; raises ApiError 402 when credits run short."""
        samples = int(inputs.get("numSamples", 1))
        record = JobRecord(
            job_id=new_id("job_"),
            owner_id=owner_id,
            author_id=author_id,
            model=model,
            input=inputs,
            times=JobTimes(created_at=now, duration_s=duration_s, fails=error is not None),
            error=error,
            asset_ids=tuple(new_id("asset_") for _ in range(samples)),
            cu_cost=cu_cost,
        )
        with self._lock:
            left = self._credits.get(owner_id, self._initial_credits)
            if cu_cost > left:
                raise ApiError(402, f"Not enough creative units: this generation costs {cu_cost}, {left:g} left")
            self._credits[owner_id] = left - cu_cost
            self._jobs[record.job_id] = record
            for asset_id in record.asset_ids:
                self._asset_jobs[asset_id] = record.job_id
            self._evict(now)
        return record

    def _evict(self, now: float) -> None:
        # Lock held. Only final jobs are forgotten, so a worker never loses a running one.
        while len(self._jobs) > self._max_jobs:
            for _, (job_id, record) in zip(range(_EVICTION_SCAN), self._jobs.items(), strict=False):
                if record.state(now).is_final:
                    del self._jobs[job_id]
                    for asset_id in record.asset_ids:
                        self._asset_jobs.pop(asset_id, None)
                    break
            else:
                return

    def job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[JobRecord]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str, now: float) -> JobRecord | None:
        """Cancel a running job; a final job stays as it is. None when there is no such job."""
        with self._lock:
            record = self._jobs.get(job_id)
            if record is None or record.state(now).is_final:
                return record
            record = replace(record, times=replace(record.times, canceled_at=now))
            self._jobs[job_id] = record
            return record

    def asset_job(self, asset_id: str, now: float) -> JobRecord | None:
        """The job an asset came from, once that job has succeeded; before that the asset does not exist."""
        with self._lock:
            job_id = self._asset_jobs.get(asset_id)
            record = self._jobs.get(job_id) if job_id else None
        if record is None or record.state(now).status != "success":
            return None
        return record

    def count_by_status(self, now: float) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.jobs():
            status = record.state(now).status
            counts[status] = counts.get(status, 0) + 1
        return counts
