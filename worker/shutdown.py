"""A worker's warm shutdown (SIGTERM): the countdown messages it holds and the messages it took ahead
go back to the broker at once, and every pool process exits soon after its last task.

Before a pool process exits it waits until the main process has read the results of every task
it ran. At a warm shutdown the main process stops reading results early: a task it had handed to
a pool process but not yet heard start is dropped from its books (its message goes back to the
broker with the connection), yet the pool process still runs it, and then waited 30 s for a read
that never came. Each such process held the shutdown for those 30 s, past many a grace period,
after any busy stretch (a batch being sent or canceled).

A short wait loses nothing: a result nobody reads leaves its message unacknowledged, so the broker
hands it out again, and every task here is safe to run twice (the job row decides what is left to
do, and nothing is sent to Scenario twice).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import billiard.pool
from celery import bootsteps
from celery.worker import state as worker_state

log = logging.getLogger("worker.shutdown")

# How long a pool process waits at exit for the main process to read its last results. A main
# process that still reads them does so within milliseconds.
RESULT_HANDOVER_WAIT_S = 2.0


def handover_tries(wait_s: float, interval_s: float) -> int:
    """How many looks, `interval_s` apart, fit in `wait_s` (at least one)."""
    if not wait_s > 0:
        raise ValueError(f"wait_s must be greater than 0, got {wait_s!r}")
    if not interval_s > 0:
        raise ValueError(f"interval_s must be greater than 0, got {interval_s!r}")
    return max(1, math.ceil(wait_s / interval_s))


def bound_the_result_handover(wait_s: float = RESULT_HANDOVER_WAIT_S) -> None:
    """In a pool process: wait at most `wait_s` at exit for the main process to read its results."""
    interval_s = billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_INTERVAL
    billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT = handover_tries(wait_s, interval_s)


def result_handover_s() -> float:
    """The longest a pool process of this interpreter waits at exit for its results to be read."""
    return (
        billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT
        * billiard.pool.GUARANTEE_MESSAGE_CONSUMPTION_RETRY_INTERVAL
    )


class HandBackStep(bootsteps.StartStopStep):
    """At a warm shutdown, give back at once the messages the worker holds but will not run.

    The worker holds countdown messages (polls, the fleet's one sweep, retries, slot waits)
    until they are due, and messages it took ahead (the prefetch) until a pool process is free.
    Left to Celery, both go back only when the connection closes, after the last running task and
    the pool's exit: seconds in which the fleet's sweep is stalled on a worker that will never run
    it, polls and retries wait, and the submits taken ahead are sent by no one while a rolling
    restart has the fleet a worker short. This step closes before the consumer stops (which
    forgets those messages): it stops taking messages, then requeues them.
    """

    name = "Hand back countdown messages"
    requires = ("celery.worker.components:Pool",)

    def close(self, worker: Any) -> None:
        consumer = getattr(worker, "consumer", None)
        if consumer is None:
            return
        try:
            task_consumer = getattr(consumer, "task_consumer", None)
            if task_consumer is not None:
                # First, so that nothing given back is delivered straight back to this worker.
                task_consumer.cancel()
            countdowns = hand_back_countdowns(getattr(consumer, "timer", None))
            waiting = hand_back_waiting(getattr(worker, "semaphore", None))
        except Exception as exc:  # what is not given back here goes back with the connection
            log.warning("could not give back the held messages at shutdown error=%s", exc)
            return
        if countdowns or waiting:
            log.info(
                "gave back %d held messages at shutdown (%d countdowns, %d waiting for a pool process)",
                countdowns + waiting,
                countdowns,
                waiting,
            )


def hand_back_countdowns(timer: Any) -> int:
    """Requeue the countdown messages waiting on `timer`: none of them will run here. Returns how many."""
    count = 0
    for request in tuple(worker_state.scheduled_requests):
        if request in worker_state.reserved_requests or request in worker_state.active_requests:
            continue
        entry = getattr(request, "_eta_timer_entry", None)
        if entry is not None and timer is not None:
            timer.cancel(entry)
        if not request.acknowledged:
            request.reject(requeue=True)
            worker_state.requests.pop(request.id, None)
            count += 1
        worker_state.scheduled_requests.discard(request)
    return count


def hand_back_waiting(semaphore: Any = None) -> int:
    """Requeue the messages taken ahead that wait for a pool process: none of them will run here.

    A request waits for a process in the worker's semaphore, which the pool's close has just
    emptied (a waiter still there is taken out first); it was never handed to the pool, so no
    process of this worker can start it after it went back. One handed over is left alone: a
    process may already be starting it. Returns how many.
    """
    waiters = getattr(semaphore, "_waiting", None)
    if waiters:
        waiters.clear()
    count = 0
    for request in tuple(worker_state.reserved_requests):
        if request in worker_state.active_requests or getattr(request, "_apply_result", None) is not None:
            continue
        if not request.acknowledged:
            request.reject(requeue=True)
            count += 1
        worker_state.reserved_requests.discard(request)
        worker_state.requests.pop(request.id, None)
    return count
