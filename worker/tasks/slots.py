"""Where the tasks meet the fleet's parallel slots: take one before a submit, give it back when
the job ends in any way, keep it while the job runs, and wake the next waiter at once."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from worker import runtime
from worker.dispatch import free_slot
from worker.fleet.errors import FleetUnavailable, SlotWait
from worker.fleet.slots import APPLICATION, BATCH
from worker.options import DEFAULT_PRIORITY
from worker.scenario.errors import ParallelLimitReached, RateLimited, ScenarioError
from worker.waits import slot_recheck_s, waiter_recheck_s

log = logging.getLogger("worker.tasks")

# A waiting job looks again at most this often even if no release wakes it (a holder that
# vanished frees its slot only when its lease runs out, and wakes no one).
SLOT_RECHECK_MAX_S = 10.0


def is_parallel_limit(exc: BaseException) -> bool:
    """Whether a 429 refused the submit because too many of the team's jobs run, not for the request rate."""
    return isinstance(exc, ParallelLimitReached)


def parallel_limit_of(exc: BaseException) -> int | None:
    """The plan's parallel limit a refusal names (`limit`, or `details.actionLimit`), if it names one."""
    limit = getattr(exc, "limit", None)
    if limit is None:
        limit = _details(exc).get("actionLimit")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None


def _details(exc: BaseException) -> Mapping[str, Any]:
    details = getattr(exc, "details", None)
    return details if isinstance(details, Mapping) else {}


def recheck_s(place: int = 0) -> float:
    """How long a job waits for a slot before looking again on its own; longer far back in the queue."""
    rt = runtime.current()
    near_s = slot_recheck_s(rt.settings.slot_lease_s)
    cap = rt.slots.configured_cap if rt.slots is not None else 0
    return waiter_recheck_s(near_s, rt.settings.fleet_hop_s, place=place, cap=cap)


def _alive_s() -> float:
    # A waiter asks again within its countdown, which the retry backoff or the hop may stretch.
    settings = runtime.current().settings
    return 2 * max(recheck_s(), settings.fleet_hop_s, settings.retry_backoff_max_s) + 5.0


_plan_read_at = -math.inf


def _read_the_plan() -> None:
    """With SCENARIO_TEAM_ID set, cap the slots at the plan's parallel limit, read again now and then."""
    global _plan_read_at
    rt = runtime.current()
    if rt.team_limit_reader is None or time.monotonic() - _plan_read_at < rt.settings.learned_cap_s / 2:
        return
    _plan_read_at = time.monotonic()
    try:
        limit = rt.learn_team_limit()
    except (ScenarioError, FleetUnavailable) as exc:
        # The cap learned from refusals still holds; the plan is read again on a later submit.
        log.warning("could not read the team's plan limits: %s", exc)
        return
    log.info("the team's plan allows %s parallel jobs", limit)


# A batch's size, read once per process: it only sets the batch's share of the slots.
_items_of: dict[str, int] = {}


def _batch_items(batch_id: str | None) -> int | None:
    """How many items the job's batch has (its share of the slots depends on it); None for no batch."""
    if batch_id is None:
        return None
    if batch_id not in _items_of:
        batch = runtime.current().batches.get(batch_id)
        if batch is None:
            return None
        _items_of[batch_id] = batch.item_count
    return _items_of[batch_id]


def take_slot(job_id: str, *, batch_id: str | None = None, rank: int = DEFAULT_PRIORITY) -> None:
    """Hold a slot for the job before it is submitted; raise SlotWait (nothing sent) when none is free.

    `rank` is the job's own priority (JobOptions.priority), which orders the waiters of its class.
    """
    slots = runtime.current().slots
    if slots is None:
        return
    _read_the_plan()
    # A job an application enqueued goes before every batch item waiting for a slot.
    priority = APPLICATION if batch_id is None else BATCH
    items = _batch_items(batch_id)
    if slots.acquire(job_id, priority=priority, group=batch_id, rank=rank, group_items=items):
        return
    place = slots.wait(job_id, alive_s=_alive_s(), priority=priority, group=batch_id, rank=rank, group_items=items)
    raise SlotWait(
        f"every parallel slot of the fleet is taken (cap {slots.cap}); waiting as number {place + 1}",
        retry_after_s=recheck_s(place),
    )


def still_waiting(job_id: str, seq: int) -> SlotWait | None:
    """A waiter's look on its own timer, in one Redis call and one row touch: the wait to raise
    while no free slot is for it yet; None when it should take the whole submit path (a slot may
    be free for it, it was woken, or its row or chain moved on)."""
    rt = runtime.current()
    if rt.slots is None:
        return None
    try:
        rank = rt.slots.still_waiting(job_id, alive_s=_alive_s())
    except FleetUnavailable:
        return None  # the whole path meets Redis' outage the usual way
    if rank is None or not rt.jobs.touch_waiter(job_id, seq):
        return None
    return SlotWait(
        f"every parallel slot of the fleet is taken; still waiting as number {rank + 1}",
        retry_after_s=recheck_s(rank),
    )


def refuse_for_the_plan(
    job_id: str, exc: RateLimited, *, batch_id: str | None = None, rank: int = DEFAULT_PRIORITY
) -> SlotWait:
    """Scenario refused the job for the team's parallel limit: learn the cap, give back our slot, wait.

    Not a request-rate problem, so the fleet's request budget is not paused for it.
    """
    slots = runtime.current().slots
    wait_s = max(recheck_s(), exc.retry_after_s or 0.0)
    if slots is None:
        return SlotWait(f"Scenario's parallel limit is reached: {exc.message}", retry_after_s=wait_s)
    # Our other jobs that hold a slot are (about) what Scenario counts as running.
    learned = slots.shrink_to(parallel_limit_of(exc) or slots.in_use() - 1)
    give_back_slot(job_id)
    job_class = APPLICATION if batch_id is None else BATCH
    slots.wait(
        job_id, alive_s=_alive_s(), priority=job_class, group=batch_id, rank=rank, group_items=_batch_items(batch_id)
    )
    log.warning("parallel limit reached job_id=%s cap=%s error=%s", job_id, learned, exc)
    return SlotWait(
        f"Scenario's parallel limit is reached; the fleet's cap is now {learned}: {exc.message}",
        retry_after_s=wait_s,
    )


def give_back_slot(job_id: str) -> None:
    """The job ended (or will never reach Scenario): free its slot and wake the waiters it lets in."""
    free_slot(job_id)


def keep_slots(job_ids: Iterable[str]) -> None:
    """Jobs seen still running keep their slots for another lease."""
    slots = runtime.current().slots
    if slots is None:
        return
    try:
        slots.refresh(job_ids)
    except FleetUnavailable as exc:
        log.warning("could not extend the slots' leases error=%s", exc)
