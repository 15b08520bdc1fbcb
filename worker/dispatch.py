"""Sending a job's tasks by name: the producer, the recovery and a freed slot publish through
here, so none of them imports the tasks, and the tasks import none of them.

Every submit sent again starts a new chain: the row's chain number grows first and the
message carries it, so a message of an older chain (a waiter's own timer, a redelivered
copy) finds itself stale and does nothing. One chain per job, however many wake it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import kombu.exceptions

from worker import runtime
from worker.celery_app import app
from worker.db.jobs import NewJob
from worker.endings import announce_end
from worker.fleet.errors import FleetUnavailable
from worker.labels import job_argsrepr
from worker.lanes import submit_lane
from worker.waits import slot_recheck_s

log = logging.getLogger("worker.dispatch")

SUBMIT_TASK = "scenario.submit_generation"
POLL_TASK = "scenario.poll_job"
CALLBACK_TASK = "scenario.deliver_callback"
HINT_TASK = "scenario.look_after_hint"


def send_submit(job_id: str, batch_id: str | None, *, producer: Any = None, countdown_s: float = 0.0) -> None:
    """The first submit of a newly recorded job (chain 0), in its lane; after `countdown_s` for a scheduled one.

    The countdown is cut to what the broker lets a worker hold a message: a job due later is
    looked at then and waits on in hops, since the claim refuses it until it is due.
    """
    args = (job_id,)
    options: dict[str, Any] = {"producer": producer} if producer is not None else {}
    if countdown_s > 0:
        options["countdown"] = min(countdown_s, runtime.current().settings.countdown_cap_s)
    app.send_task(SUBMIT_TASK, args=args, queue=submit_lane(batch_id), argsrepr=job_argsrepr(args), **options)


def send_submit_again(job_id: str, *, queue: str | None = None) -> bool:
    """Start a new chain for an unsent job; False (nothing sent) when it needs no submit any more."""
    chain = runtime.current().jobs.next_submit_seq(job_id)
    if chain is None:
        return False
    seq, batch_id = chain
    args = (job_id,)
    app.send_task(
        SUBMIT_TASK, args=args, kwargs={"seq": seq}, queue=queue or submit_lane(batch_id), argsrepr=job_argsrepr(args)
    )
    return True


def send_poll(job_id: str, seq: int, *, alone: bool = False) -> None:
    """A look at a job on Scenario; a duplicate of a look already taken finds its place gone.

    `alone`: the job watches itself to its end, whatever it hears of the sweep.
    """
    args = (job_id, seq)
    app.send_task(POLL_TASK, args=args, kwargs={"alone": True} if alone else None, argsrepr=job_argsrepr(args))


def send_hint_look(job_id: str) -> None:
    """One look at a job Scenario says has ended (a webhook), beside its poll chain, in the watch lane."""
    args = (job_id,)
    app.send_task(HINT_TASK, args=args, argsrepr=job_argsrepr(args))


def send_callback(delivery_id: int) -> None:
    """A completion callback's delivery, in the watch lane."""
    app.send_task(CALLBACK_TASK, args=(delivery_id,))


def job_ended(job_id: str) -> None:
    """The job is final: free its slot, wake whoever waits for it, queue its callback."""
    free_slot(job_id)
    announce_end(job_id)


def free_slot(job_id: str) -> list[str]:
    """The job ended (or will never reach Scenario): free its slot and send the submits of the
    waiters it lets in; returns the jobs whose submits were sent."""
    return free_slots([job_id])


def free_slots(job_ids: Iterable[str]) -> list[str]:
    """Jobs seen ended together: free every slot first, then send the woken waiters' submits with
    one statement for their chains, so the last of them leaves as soon as the first. Returns the
    jobs whose submits were sent. A Redis that does not answer is let be: the slot's lease runs out."""
    rt = runtime.current()
    if rt.slots is None:
        return []
    woken: dict[str, str] = {}
    for job_id in job_ids:
        try:
            woken.update((waiter, job_id) for waiter in rt.slots.release(job_id, wake_grace_s=_wake_grace_s()))
        except FleetUnavailable as exc:
            log.warning("could not give back the slot job_id=%s error=%s", job_id, exc)
    return send_woken(woken)


def wake_waiters() -> list[str]:
    """Send the submits of waiters the free slots admit that no release woke (a wake whose submit
    was lost, a holder whose lease ran out): a parked batch item has no timer of its own."""
    rt = runtime.current()
    if rt.slots is None:
        return []
    try:
        woken = rt.slots.wake(wake_grace_s=_wake_grace_s())
    except FleetUnavailable as exc:
        log.warning("could not look for waiters to wake error=%s", exc)
        return []
    return send_woken(dict.fromkeys(woken, "a free slot"))


def park_batch_items(rows: Sequence[NewJob], *, items: int | None) -> list[NewJob]:
    """Newly recorded items of one batch wait for a slot in the fleet's waiting list, without a
    submit message each. Returns the rows whose first submit the caller sends now: those the free
    slots admit; all of them without a cap (or Redis); and any scheduled for later (its wait is
    the broker's countdown)."""
    rt = runtime.current()
    due = [row for row in rows if row.batch_id is not None and row.options.not_before is None]
    if rt.slots is None or not due or len({row.batch_id for row in due}) != 1:
        return list(rows)
    try:
        woken = rt.slots.park(
            [(row.job_id, row.options.priority) for row in due],
            group=str(due[0].batch_id),
            group_items=items,
            wake_grace_s=_wake_grace_s(),
        )
    except FleetUnavailable as exc:
        log.warning("could not park batch items for a slot; sending each error=%s", exc)
        return list(rows)
    if woken is None:
        return list(rows)
    parked = {row.job_id for row in due}
    admitted = set(woken) & parked
    try:
        # Earlier waiters the free slots admitted too (their wake was lost): new chains.
        send_woken({waiter: "a free slot" for waiter in woken if waiter not in parked})
    except kombu.exceptions.OperationalError as exc:
        log.warning("could not wake earlier waiters; the recovery wakes them error=%s", exc)
    return [row for row in rows if row.job_id not in parked or row.job_id in admitted]


def send_woken(woken: Mapping[str, str]) -> list[str]:
    """Send the submits of woken waiters (waiter -> what woke it) as new chains, one statement for
    all. A waiter that needs no submit any more (ended, or sent) gives its place up, and the slot
    it was woken for goes to the next waiter. Returns the jobs whose submits were sent."""
    rt = runtime.current()
    sent: list[str] = []
    while woken:
        # New chains: each waiter's own timed retry, still on its way, is dropped when it comes.
        chains = rt.jobs.next_submit_seqs(woken)
        for waiter, (seq, batch_id) in chains.items():
            args = (waiter,)
            app.send_task(
                SUBMIT_TASK, args=args, kwargs={"seq": seq}, queue=submit_lane(batch_id), argsrepr=job_argsrepr(args)
            )
            log.info("woken for a free slot job_id=%s freed_by=%s", waiter, woken[waiter])
        sent.extend(chains)
        gone = [waiter for waiter in woken if waiter not in chains]
        if not gone or rt.slots is None:
            break
        try:
            # A parked item ended some other way would otherwise hold the head of the list.
            rt.slots.forget(gone)
            woken = dict.fromkeys(rt.slots.wake(wake_grace_s=_wake_grace_s()), "a free slot")
        except FleetUnavailable as exc:
            log.warning("could not take ended jobs off the waiting list error=%s", exc)
            break
    return sent


def _wake_grace_s() -> float:
    return slot_recheck_s(runtime.current().settings.slot_lease_s)
