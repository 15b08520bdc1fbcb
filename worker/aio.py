"""The application API as coroutines, for asyncio applications (FastAPI, aiohttp, ...).

None of them blocks the event loop: the database and broker calls run in a worker thread
(`asyncio.to_thread`), and `wait_for` listens for the job's end on Redis with
`redis.asyncio`, reading the row in a thread only when something may have changed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis.asyncio

from worker import producer, runtime
from worker.cancellation import CancelResult
from worker.db.jobs import JobView
from worker.endings import channel_of
from worker.generation import DEFAULT_MODEL_ID, GenerationRequest
from worker.options import JobOptions
from worker.waiting import (
    DEFAULT_TIMEOUT_S,
    SUBSCRIBED_RECHECK_S,
    UNSUBSCRIBED_RECHECK_S,
    WaitTimeout,
    check_timeout,
    read_job,
)

__all__ = ["cancel_job", "enqueue_generation", "enqueue_many", "get_job", "wait_for"]


async def enqueue_generation(
    prompt: str | None = None,
    *,
    model_id: str = DEFAULT_MODEL_ID,
    inputs: Mapping[str, Any] | None = None,
    deadline_s: float | None = None,
    options: JobOptions | None = None,
    **named_inputs: Any,
) -> str:
    """`worker.enqueue_generation`, awaited."""
    return await asyncio.to_thread(
        producer.enqueue_generation,
        prompt,
        model_id=model_id,
        inputs=inputs,
        deadline_s=deadline_s,
        options=options,
        **named_inputs,
    )


async def enqueue_many(
    requests: Iterable[GenerationRequest | Mapping[str, Any]],
    *,
    options: JobOptions | None = None,
    deadline_s: float | None = None,
) -> list[str]:
    """`worker.enqueue_many`, awaited (its progress callback would run in the thread, so none is taken)."""
    return await asyncio.to_thread(producer.enqueue_many, list(requests), options=options, deadline_s=deadline_s)


async def get_job(job_id: str) -> JobView:
    """`worker.get_job`, awaited: JobNotFound for an id no job has."""
    return await asyncio.to_thread(producer.get_job, job_id)


async def cancel_job(job_id: str, *, wait_s: float = 10.0) -> CancelResult:
    """`worker.cancel_job`, awaited: JobNotFound for an id no job has."""
    return await asyncio.to_thread(producer.cancel_job, job_id, wait_s=wait_s)


async def wait_for(job_id: str, timeout_s: float = DEFAULT_TIMEOUT_S, *, recheck_s: float | None = None) -> JobView:
    """`worker.wait_for`, awaited: the job once it is final; WaitTimeout (a TimeoutError) after `timeout_s`."""
    check_timeout(timeout_s)
    deadline = time.monotonic() + timeout_s
    job = await asyncio.to_thread(read_job, job_id)
    if job.is_final:
        return job
    url = runtime.current().settings.fleet_redis_url
    if url is None:
        return await _by_rechecks(job_id, timeout_s, deadline, recheck_s or UNSUBSCRIBED_RECHECK_S)
    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2)
    try:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel_of(job_id))
        except redis.RedisError:
            return await _by_rechecks(job_id, timeout_s, deadline, recheck_s or UNSUBSCRIBED_RECHECK_S)
        try:
            every_s = recheck_s or SUBSCRIBED_RECHECK_S
            while True:
                # Read after subscribing: an end published before the subscription is seen here.
                job = await asyncio.to_thread(read_job, job_id)
                if job.is_final:
                    return job
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    raise WaitTimeout(job_id, timeout_s, job)
                try:
                    await pubsub.get_message(timeout=min(left_s, every_s))
                except redis.RedisError:
                    return await _by_rechecks(job_id, timeout_s, deadline, recheck_s or UNSUBSCRIBED_RECHECK_S)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()


async def _by_rechecks(job_id: str, timeout_s: float, deadline: float, every_s: float) -> JobView:
    while True:
        job = await asyncio.to_thread(read_job, job_id)
        if job.is_final:
            return job
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            raise WaitTimeout(job_id, timeout_s, job)
        await asyncio.sleep(min(left_s, every_s))
