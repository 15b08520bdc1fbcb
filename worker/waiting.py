"""`wait_for(job_id)`: block until a job ends, woken by its end rather than by polling the database.

The final state's writer publishes on the job's Redis channel (worker/endings.py). A waiter
reads the row, subscribes, and reads it again (an end between the first read and the
subscription is not missed), then sleeps until a message comes and reads the row once more.
A publish can still be lost (Redis restarted, a worker killed between its write and its
publish), so the row is also read every `recheck_s`; without Redis (a RabbitMQ-only setup)
that slow recheck is all there is.
"""

from __future__ import annotations

import time

from worker import runtime
from worker.db.jobs import JobNotFound, JobView
from worker.endings import channel_of
from worker.errors import WorkerError

DEFAULT_TIMEOUT_S = 600.0
# How often the row is read while a subscription is held: a safety net, not the way ends arrive.
SUBSCRIBED_RECHECK_S = 30.0
# Without Redis the recheck is the only way to learn of the end: often enough to feel prompt.
UNSUBSCRIBED_RECHECK_S = 1.0


class WaitTimeout(WorkerError, TimeoutError):
    """The job did not end within the time given; it runs on, untouched."""

    retryable = True

    def __init__(self, job_id: str, timeout_s: float, job: JobView) -> None:
        super().__init__(f"job {job_id} did not end within {timeout_s:g} s; it is {job.status.value}")
        self.job_id = job_id
        self.job = job


def check_timeout(timeout_s: float) -> None:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s >= 0:
        raise ValueError(f"timeout_s: must be a number of seconds, 0 or more, got {timeout_s!r}")


def read_job(job_id: str) -> JobView:
    job = runtime.current().jobs.get(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def wait_for(job_id: str, timeout_s: float = DEFAULT_TIMEOUT_S, *, recheck_s: float | None = None) -> JobView:
    """The job once it is final (success, failure, canceled or dead).

    Raises JobNotFound for an unknown id and WaitTimeout (a TimeoutError) when it has not
    ended after `timeout_s`. `recheck_s` overrides how often the row is read regardless.
    """
    check_timeout(timeout_s)
    deadline = time.monotonic() + timeout_s
    job = read_job(job_id)
    if job.is_final:
        return job
    client = runtime.current().redis
    if client is None:
        return _by_rechecks(job_id, timeout_s, deadline, recheck_s or UNSUBSCRIBED_RECHECK_S)
    try:
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.subscribe(channel_of(job_id))
    except Exception:
        # Redis does not answer: the rechecks still find the end.
        return _by_rechecks(job_id, timeout_s, deadline, recheck_s or UNSUBSCRIBED_RECHECK_S)
    try:
        every_s = recheck_s or SUBSCRIBED_RECHECK_S
        while True:
            job = read_job(job_id)
            if job.is_final:
                return job
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                raise WaitTimeout(job_id, timeout_s, job)
            try:
                pubsub.get_message(timeout=min(left_s, every_s))
            except Exception:
                return _by_rechecks(job_id, timeout_s, deadline, recheck_s or UNSUBSCRIBED_RECHECK_S)
    finally:
        try:
            pubsub.close()
        except Exception:
            pass


def _by_rechecks(job_id: str, timeout_s: float, deadline: float, every_s: float) -> JobView:
    while True:
        job = read_job(job_id)
        if job.is_final:
            return job
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            raise WaitTimeout(job_id, timeout_s, job)
        time.sleep(min(left_s, every_s))
