"""Who is told when a job ends: whoever waits for it (`wait_for`), and its callback URL.

The final state is written first, by whichever path ends the job; this is told afterwards and
reads the row again, so a job ended twice (racing workers) is announced from one truth, and
its callback is recorded once (the delivery's row is unique per job).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from worker import runtime

log = logging.getLogger("worker.endings")

CHANNEL_PREFIX = "scenario:job-ended:"


def channel_of(job_id: str) -> str:
    """The Redis channel a job's end is published on."""
    return CHANNEL_PREFIX + job_id


def announce_end(job_id: str) -> None:
    """Publish the end of a job that is final now, and queue its callback if it has one.

    Never raises: the job has ended either way. A missed publish costs a waiter its slow
    recheck; a callback not recorded here is picked up by the recovery.
    """
    rt = runtime.current()
    if rt.redis is not None:
        try:
            rt.redis.publish(channel_of(job_id), "ended")
        except Exception as exc:  # a Redis outage must not fail the task that ended the job
            log.warning("could not publish the end job_id=%s error=%s", job_id, exc)
    try:
        queue_callback(job_id)
    except Exception as exc:
        log.warning("could not queue the callback job_id=%s error=%s", job_id, exc)


def announce_ends(ended: Iterable[tuple[str, bool]]) -> None:
    """`announce_end` for many jobs ended together, each told with whether it has a callback URL.

    The ends are published in one round trip, and only a job with a URL is read again for its
    callback: the URL is fixed when the job is made, so the writer that ended it knows already.
    """
    ended = list(ended)
    rt = runtime.current()
    if rt.redis is not None and ended:
        try:
            with rt.redis.pipeline(transaction=False) as pipe:
                for job_id, _ in ended:
                    pipe.publish(channel_of(job_id), "ended")
                pipe.execute()
        except Exception as exc:  # a Redis outage must not fail the task that ended the jobs
            log.warning("could not publish %d ends error=%s", len(ended), exc)
    for job_id, has_callback in ended:
        if not has_callback:
            continue
        try:
            queue_callback(job_id)
        except Exception as exc:
            log.warning("could not queue the callback job_id=%s error=%s", job_id, exc)


def queue_callback(job_id: str) -> int | None:
    """Record the job's callback delivery and send it; its id, or None (none to make, or made already)."""
    from worker.dispatch import send_callback

    delivery = runtime.current().callbacks.record_end(job_id)
    if delivery is None:
        return None
    send_callback(delivery.id)
    log.info("callback queued job_id=%s delivery_id=%s", job_id, delivery.id)
    return delivery.id
