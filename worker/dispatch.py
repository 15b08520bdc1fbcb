"""Sending a job's tasks by name: the producer, the recovery and a freed slot publish through
here, so none of them imports the tasks, and the tasks import none of them.

Every submit sent again starts a new chain: the row's chain number grows first and the
message carries it, so a message of an older chain (a waiter's own timer, a redelivered
copy) finds itself stale and does nothing. One chain per job, however many wake it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from worker import runtime
from worker.celery_app import app
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


def send_poll(job_id: str, seq: int) -> None:
    """A look at a job on Scenario; a duplicate of a look already taken finds its place gone."""
    args = (job_id, seq)
    app.send_task(POLL_TASK, args=args, argsrepr=job_argsrepr(args))


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
    grace_s = slot_recheck_s(rt.settings.slot_lease_s)
    woken: dict[str, str] = {}
    for job_id in job_ids:
        try:
            woken.update((waiter, job_id) for waiter in rt.slots.release(job_id, wake_grace_s=grace_s))
        except FleetUnavailable as exc:
            log.warning("could not give back the slot job_id=%s error=%s", job_id, exc)
    if not woken:
        return []
    # New chains: each waiter's own timed retry, still on its way, is dropped when it comes.
    chains = rt.jobs.next_submit_seqs(woken)
    for waiter, (seq, batch_id) in chains.items():
        args = (waiter,)
        app.send_task(
            SUBMIT_TASK, args=args, kwargs={"seq": seq}, queue=submit_lane(batch_id), argsrepr=job_argsrepr(args)
        )
        log.info("woken for a free slot job_id=%s freed_by=%s", waiter, woken[waiter])
    return list(chains)
