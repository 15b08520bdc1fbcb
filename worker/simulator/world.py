"""The simulated account's state: jobs, their assets, uploads, and the credits left per owner."""

from __future__ import annotations

import bisect
import heapq
import math
import secrets
import string
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from worker.simulator.lifecycle import JobState, JobTimes, final_at, job_state
from worker.simulator.messages import ApiError
from worker.simulator.models import Model
from worker.simulator.timefmt import to_ms

_ID_ALPHABET = string.ascii_letters + string.digits
# How many of the oldest jobs are looked at for one that can be forgotten, per new job.
_EVICTION_SCAN = 64
# Sorts after every job id, so a (ms, id) key bounds all the jobs of that millisecond.
_LAST_ID = "\U0010ffff"
# (ms, job id) in ascending order: one job's place in a time index.
TimeKey = tuple[int, str]


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
    cu_details: dict[str, Any] = field(default_factory=dict)
    # Pixel size of image outputs when it does not come from width/height (upscale, edit).
    output_size: tuple[int, int] | None = None

    def state(self, now: float) -> JobState:
        return job_state(self.times, now)

    def ends_at(self) -> float:
        """When the job is final: its own end, or the cancel when that came first."""
        end = final_at(self.times)
        canceled = self.times.canceled_at
        return end if canceled is None else min(end, canceled)


@dataclass(frozen=True)
class Upload:
    """An image sent with POST /assets, kept whole so it can be downloaded and used as an input."""

    asset_id: str
    owner_id: str
    author_id: str
    name: str
    mime_type: str
    data: bytes
    width: int
    height: int
    created_at: float


class ParallelLimitReached(ApiError):
    """A submit while the team already has its plan's number of jobs not final (the live service's body)."""

    def __init__(self, limit: int, remaining_s: int) -> None:
        message = "Too many parallel jobs"
        extra = {
            "reason": message,
            "details": {"actionName": "parallelInferences", "actionLimit": limit},
            "remainingSeconds": remaining_s,
        }
        super().__init__(429, message, code="TOO_MANY_PARALLEL_JOBS", extra=extra)


class World:
    """Jobs in creation order, assets by id, credits by owner; guarded by one lock.

    Two sorted indexes of (ms, job id), by creation and by end, let a listing read the jobs that
    can be on its page rather than every job the account ever made.
    """

    def __init__(self, *, max_jobs: int, credits: float) -> None:
        self._lock = threading.Lock()
        self._max_jobs = max_jobs
        self._initial_credits = credits
        self._jobs: OrderedDict[str, JobRecord] = OrderedDict()
        self._by_created: list[TimeKey] = []
        self._by_end: list[TimeKey] = []
        self._asset_jobs: dict[str, str] = {}
        self._uploads: dict[str, Upload] = {}
        self._credits: dict[str, float] = {}
        # Failing jobs waiting for their refund, by the time they fail: (fails_at, job_id).
        self._refunds_due: list[tuple[float, str]] = []
        self._refunded_jobs: set[str] = set()
        self.charged_cu = 0
        self.refunded_cu = 0
        # Told of every job created or canceled (outside the lock): the webhooks time its end event by it.
        self.listener: Callable[[JobRecord], None] | None = None

    def credits_left(self, owner_id: str, now: float) -> float:
        with self._lock:
            self._settle_refunds(now)
            return self._credits.get(owner_id, self._initial_credits)

    def _settle_refunds(self, now: float) -> None:
        # Lock held. A failed job gives its creative units back once it has failed (not when canceled first).
        while self._refunds_due and self._refunds_due[0][0] < now:
            _, job_id = heapq.heappop(self._refunds_due)
            record = self._jobs.get(job_id)
            if record is not None and record.state(now).status == "failure":
                left = self._credits.get(record.owner_id, self._initial_credits)
                self._credits[record.owner_id] = left + record.cu_cost
                self.refunded_cu += record.cu_cost
                self._refunded_jobs.add(job_id)

    def is_refunded(self, job_id: str, now: float) -> bool:
        with self._lock:
            self._settle_refunds(now)
            return job_id in self._refunded_jobs

    def billing(self, now: float) -> dict[str, int]:
        """Creative units charged for every accepted job, given back for failed ones, and the difference."""
        with self._lock:
            self._settle_refunds(now)
            return {"charged": self.charged_cu, "refunded": self.refunded_cu, "net": self.charged_cu - self.refunded_cu}

    def _parallel_check(self, owner_id: str, limit: int, now: float) -> None:
        # Lock held. remainingSeconds: until the oldest job still running is expected to end.
        running = [r for r in self._jobs.values() if r.owner_id == owner_id and not r.state(now).is_final]
        if len(running) >= limit:
            oldest = min(running, key=lambda r: r.times.created_at)
            raise ParallelLimitReached(limit, max(1, math.ceil(oldest.ends_at() - now)))

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
        cu_details: dict[str, Any] | None = None,
        output_size: tuple[int, int] | None = None,
        parallel_limit: int = 0,
    ) -> JobRecord:
        """Charge the owner and keep a new job.

        Raises ParallelLimitReached (429) when `parallel_limit` (0: none) jobs of the owner are
        not final, ApiError 402 when credits run short.
        """
        samples = int(inputs.get("numSamples", 1)) if model.output == "image" and model.base_cu else 1
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
            cu_details=dict(cu_details or {}),
            output_size=output_size,
        )
        with self._lock:
            self._settle_refunds(now)
            if parallel_limit:
                self._parallel_check(owner_id, parallel_limit, now)
            left = self._credits.get(owner_id, self._initial_credits)
            if cu_cost > left:
                raise ApiError(402, f"Not enough creative units: this generation costs {cu_cost}, {left:g} left")
            self._credits[owner_id] = left - cu_cost
            self.charged_cu += cu_cost
            if error is not None:
                heapq.heappush(self._refunds_due, (final_at(record.times), record.job_id))
            self._jobs[record.job_id] = record
            bisect.insort(self._by_created, _created_key(record))
            bisect.insort(self._by_end, _end_key(record))
            for asset_id in record.asset_ids:
                self._asset_jobs[asset_id] = record.job_id
            self._evict(now)
        if self.listener is not None:
            self.listener(record)
        return record

    def _evict(self, now: float) -> None:
        # Lock held, refunds settled. Only final jobs are forgotten, so a worker never loses a running one.
        while len(self._jobs) > self._max_jobs:
            for _, (job_id, record) in zip(range(_EVICTION_SCAN), self._jobs.items(), strict=False):
                if record.state(now).is_final:
                    del self._jobs[job_id]
                    _remove(self._by_created, _created_key(record))
                    _remove(self._by_end, _end_key(record))
                    self._refunded_jobs.discard(job_id)
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

    def ending_after(self, ms: int) -> list[JobRecord]:
        """Every job whose end (reached or to come) is later than `ms`: a superset of those changed since
        then, as a job's last change is never later than its end."""
        with self._lock:
            start = bisect.bisect_right(self._by_end, (ms, _LAST_ID))
            return [self._jobs[job_id] for _, job_id in self._by_end[start:]]

    def newest_created(
        self, *, owner_id: str, below: TimeKey | None, above_ms: int | None, limit: int
    ) -> list[JobRecord]:
        """Up to `limit` of the owner's jobs, newest first, whose (created ms, id) is below `below` and
        whose creation is later than `above_ms`: one page of the listing by creation, read from its end."""
        found: list[JobRecord] = []
        with self._lock:
            index = len(self._by_created) if below is None else bisect.bisect_left(self._by_created, below)
            while index > 0 and len(found) < limit:
                index -= 1
                created_ms, job_id = self._by_created[index]
                if above_ms is not None and created_ms <= above_ms:
                    break
                record = self._jobs[job_id]
                if record.owner_id == owner_id:
                    found.append(record)
        return found

    def cancel(self, job_id: str, now: float) -> JobRecord | None:
        """Cancel a running job; a final job stays as it is. None when there is no such job."""
        with self._lock:
            record = self._jobs.get(job_id)
            if record is None or record.state(now).is_final:
                return record
            canceled = replace(record, times=replace(record.times, canceled_at=now))
            self._jobs[job_id] = canceled
            _remove(self._by_end, _end_key(record))
            bisect.insort(self._by_end, _end_key(canceled))
            record = canceled
        if self.listener is not None:
            self.listener(record)
        return record

    def add_upload(self, upload: Upload) -> None:
        with self._lock:
            self._uploads[upload.asset_id] = upload

    def upload(self, asset_id: str) -> Upload | None:
        with self._lock:
            return self._uploads.get(asset_id)

    def asset_job(self, asset_id: str, now: float) -> JobRecord | None:
        """The job an asset came from, once that job has succeeded; before that the asset does not exist."""
        with self._lock:
            job_id = self._asset_jobs.get(asset_id)
            record = self._jobs.get(job_id) if job_id else None
        if record is None or record.state(now).status != "success":
            return None
        return record

    def running_intervals(self, since: float, now: float) -> list[tuple[str, float, float]]:
        """(owner, created, end) of every job created from `since`; a job still running ends `now` for now."""
        return [
            (r.owner_id, r.times.created_at, min(r.ends_at(), now)) for r in self.jobs() if r.times.created_at >= since
        ]

    def count_by_status(self, now: float) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.jobs():
            status = record.state(now).status
            counts[status] = counts.get(status, 0) + 1
        return counts


def _created_key(record: JobRecord) -> TimeKey:
    return to_ms(record.times.created_at), record.job_id


def _end_key(record: JobRecord) -> TimeKey:
    return to_ms(record.ends_at()), record.job_id


def _remove(index: list[TimeKey], key: TimeKey) -> None:
    at = bisect.bisect_left(index, key)
    if at < len(index) and index[at] == key:
        del index[at]
