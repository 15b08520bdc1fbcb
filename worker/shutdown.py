"""A worker's warm shutdown (SIGTERM): every pool process exits soon after its last task.

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

import math

import billiard.pool

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
