"""One chain of submit messages per job: whoever sends a job's submit again starts a new chain.

A job's submit message may be sent again by a freed slot (waking its waiter) or by the
recovery (its message was lost). Each time the row's chain number grows first, and the
message carries it; a message of an older chain (a waiter's own timer, a redelivered copy)
finds itself stale and does nothing. Messages are sent by task name, so this module needs
nothing of the tasks themselves.
"""

from __future__ import annotations

from worker import runtime
from worker.celery_app import app
from worker.lanes import submit_lane

SUBMIT_TASK = "scenario.submit_generation"


def send_submit_again(job_id: str, *, queue: str | None = None) -> bool:
    """Start a new chain for an unsent job; False (nothing sent) when it needs no submit any more."""
    chain = runtime.current().jobs.next_submit_seq(job_id)
    if chain is None:
        return False
    seq, batch_id = chain
    app.send_task(SUBMIT_TASK, args=(job_id,), kwargs={"seq": seq}, queue=queue or submit_lane(batch_id))
    return True
