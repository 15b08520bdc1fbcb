"""Every wait the workers take, decided in one place by pure functions.

A task that waits does so with a countdown held by the broker (never a sleeping worker slot),
so every countdown must stay well below the broker's redelivery horizon: past it, the broker
hands the waiting message to a second worker. These functions take numbers and return
numbers; the tasks feed them the settings.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from enum import StrEnum

# Celery's timer can fire a few milliseconds early; this keeps a retry strictly
# after the moment Scenario named.
RETRY_AFTER_MARGIN_S = 0.05
# No retry goes at once: a 0-s full-jitter retry would hit a failing service again in the same instant.
WAIT_FLOOR_S = 0.5
# RabbitMQ closes a channel holding a delivery unacknowledged longer than its consumer_timeout
# (30 min by default); a countdown task is held so by its worker.
AMQP_CONSUMER_TIMEOUT_S = 1800.0
# A countdown stays under this share of the horizon, so a slow worker start or a clock step never
# reaches it.
HORIZON_SHARE = 0.5


class RetryKind(StrEnum):
    """Why a task runs again, which decides what the retry spends."""

    SCENARIO = "scenario"  # Scenario failed this request: spends one of the job's tries
    OUTAGE = "outage"  # our own infrastructure (database, Redis, broker) failed: bounded by time, not tries
    WAIT = "wait"  # the fleet said wait (budget, pause, slot, another worker): nothing was sent, spends nothing


def redelivery_horizon_s(*, uses_amqp: bool, visibility_timeout_s: float) -> float:
    """How long the broker lets a worker hold a message before it hands it to another."""
    return AMQP_CONSUMER_TIMEOUT_S if uses_amqp else float(visibility_timeout_s)


def countdown_cap_s(horizon_s: float) -> float:
    """The longest countdown any task may take."""
    return horizon_s * HORIZON_SHARE


def backoff_s(
    tries: int, *, base_s: float, max_s: float, jitter: bool, rand: Callable[[], float] = random.random
) -> float:
    """Exponential backoff after `tries` failed tries (0 for the first retry).

    With jitter, half the wait is fixed and half random ("equal jitter"), so workers spread out
    without any retry coming at once.
    """
    full = min(max_s, base_s * (2 ** max(0, tries)))
    wait = full / 2 + rand() * full / 2 if jitter else full
    return max(WAIT_FLOOR_S, wait)


def retry_wait_s(proposed_s: float | None, retry_after_s: float | None, *, cap_s: float) -> float:
    """The countdown of a retry: the backoff, never before `Retry-After`, never past the cap."""
    wait = max(WAIT_FLOOR_S, proposed_s or 0.0)
    if retry_after_s is not None and retry_after_s > 0:
        wait = max(wait, retry_after_s + RETRY_AFTER_MARGIN_S)
    return min(wait, cap_s)


# The longest a request waits for the fleet's budget inside a task; a longer wait becomes a retry.
BUDGET_WAIT_MAX_S = 1.0
# Between the check that opens a submit and its request leaving: a commit, a pooled connection.
REQUEST_MARGIN_S = 2.0


def request_horizon_s(*, connect_timeout_s: float, read_timeout_s: float) -> float:
    """How long one submit request can take from the check before it: the budget wait and both timeouts."""
    return BUDGET_WAIT_MAX_S + connect_timeout_s + read_timeout_s + REQUEST_MARGIN_S


def answer_horizon_s(*, connect_timeout_s: float, read_timeout_s: float, late_submit_s: float) -> float:
    """How long after a submit left Scenario may still make its job: a lost answer is looked for only then."""
    return request_horizon_s(connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s) + late_submit_s


# A job waiting for a parallel slot looks again at most this often even if no release wakes it
# (a holder that vanished frees its slot only when its lease runs out, and wakes no one).
SLOT_RECHECK_MAX_S = 10.0


def slot_recheck_s(slot_lease_s: float) -> float:
    """How long a job waits for a slot before looking again on its own."""
    return min(SLOT_RECHECK_MAX_S, slot_lease_s / 2)


def waiter_recheck_s(near_s: float, far_s: float, *, place: int, cap: int) -> float:
    """How long a job waiting for a slot waits before looking again, by its place (0 first).

    A waiter is woken by the release that lets it in; it looks on its own only in case a wake
    was lost. One within two rounds of the cap looks every `near_s`; one further back every
    `far_s`, so a long queue costs the workers little while it waits.
    """
    if cap <= 0 or place < 2 * cap:
        return near_s
    return max(near_s, far_s)


def fleet_wait_s(remaining_s: float | None, *, hop_s: float) -> float:
    """How long a task waiting on the fleet (a pause, a lease, a slot) sleeps before it looks again.

    A long pause is waited out in hops, so the task comes back (and touches its job) often enough
    that the recovery never takes it for lost.
    """
    if remaining_s is None or remaining_s <= 0:
        return WAIT_FLOOR_S
    return max(WAIT_FLOOR_S, min(remaining_s + RETRY_AFTER_MARGIN_S, hop_s))


def gives_up(
    kind: RetryKind,
    *,
    tries_spent: int,
    max_tries: int,
    outage_elapsed_s: float,
    outage_budget_s: float,
) -> bool:
    """Whether a task stops retrying: Scenario errors by count, outages by elapsed time, waits never."""
    if kind is RetryKind.SCENARIO:
        return tries_spent > max_tries
    if kind is RetryKind.OUTAGE:
        return outage_elapsed_s > outage_budget_s
    return False


def stalled_after_s(longest_countdown_s: float) -> float:
    """A job nothing touched for this long has lost its message: twice the longest countdown."""
    return 2 * longest_countdown_s


def recovered_within_s(*, stalled_after_s: float, recovery_interval_s: float) -> float:
    """The longest a dead worker's job waits before the recovery sends it again."""
    return stalled_after_s + recovery_interval_s
