"""The lanes (queues) tasks travel in, and which task goes in which.

Work of different urgency waits in different queues, so that a backlog in one
never delays another: a single job's submit never waits behind a batch's
thousand submits, and the looks at running jobs never wait behind either.
A worker started without `-Q` serves every lane; at scale each lane can have
workers of its own (`celery -A worker worker -Q scenario.submit`).
"""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

# Submits of jobs enqueued one at a time: someone is waiting for each.
SUBMIT = "scenario.submit"
# Submits of batch items: many at once, nobody waits for any single one.
BATCH = "scenario.batch"
# Looks at running jobs: polls, the sweep; and the callbacks of ended
# jobs, short requests (SCENARIO_CALLBACK_TIMEOUT_S) that never hold up a submit.
WATCH = "scenario.watch"
# Fetching a batch's finished images.
DOWNLOAD = "scenario.download"

# The order a worker serving every lane lists them in.
ALL = (SUBMIT, WATCH, BATCH, DOWNLOAD)

_BY_TASK = {
    "scenario.submit_generation": SUBMIT,
    "scenario.poll_job": WATCH,
    "scenario.sweep": WATCH,
    "scenario.deliver_callback": WATCH,
    "scenario.look_after_hint": WATCH,
    "scenario.download_batch": DOWNLOAD,
}


class UnknownLane(ValueError):
    """A queue name that is not one of the lanes."""


def submit_lane(batch_id: str | None) -> str:
    """The lane of a job's submit: batch items apart from jobs enqueued one at a time."""
    return SUBMIT if batch_id is None else BATCH


def lane_of(task_name: str, queue: str | None = None) -> str | None:
    """The lane a message goes to: the one its sender named, else its task's; None for other tasks."""
    if queue is not None:
        if queue not in ALL:
            raise UnknownLane(f"queue {queue!r} is not a lane; use one of {', '.join(ALL)}")
        return queue
    return _BY_TASK.get(task_name)


def route(name: str, args: Any, kwargs: Any, options: dict[str, Any], task: Any = None, **_: Any) -> Any:
    """Celery's router: an explicit `queue=` (e.g. a batch item's submit) wins, else the task's lane.

    A retry keeps its message's lane: Celery sends it with the routing key it was delivered with.
    """
    queue = options.get("queue")
    # Celery hands the router the named queue already expanded into its Queue.
    lane = lane_of(name, getattr(queue, "name", queue))
    return None if lane is None else {"queue": lane}


def queues() -> list[Queue]:
    """Every lane, declared with a direct exchange of its own name (the same on Redis and RabbitMQ)."""
    return [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ALL]
