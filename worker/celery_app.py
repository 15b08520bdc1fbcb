"""The Celery app. `celery -A worker worker` and `celery -A worker flower` find it.

Its configuration is read from the environment when Celery first needs it, not
at import, through the `on_configure` hook.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_init,
    worker_before_create_process,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from worker import forking, lanes, logs, runtime, shutdown
from worker.heartbeat import HeartbeatStep
from worker.observe import serve
from worker.settings import Settings

app = Celery("worker", include=["worker.tasks"])
# The worker's proof of life for `scenario-worker health --worker`, beaten by its consumer.
app.steps["consumer"].add(HeartbeatStep)
# At a warm shutdown, the countdown messages the worker holds go back to the broker at once.
app.steps["worker"].add(shutdown.HandBackStep)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery's settings for this system, from ours."""
    if settings.broker_url.startswith("filesystem://"):
        return {**_common(settings), "broker_transport_options": _folder_transport(settings.broker_url)}
    if settings.uses_amqp:
        # RabbitMQ: an unacknowledged message comes back as soon as its worker's
        # connection drops, so there is no visibility timeout to tune. Publishes
        # are confirmed, so an enqueue that returned is on the broker.
        return {**_common(settings), "broker_transport_options": {"confirm_publish": True}}
    transport = {
        "visibility_timeout": settings.visibility_timeout_s,
        # Messages of a worker that died come back once they are older than
        # the visibility timeout; look for them often enough that they do so
        # soon after (the library default scans every 100 s).
        "unacked_restore_interval": max(1, min(60, settings.visibility_timeout_s // 6)),
        "unacked_restore_throttle": 1,
    }
    return {
        **_common(settings),
        # Every place Celery reads a visibility timeout gets the same one, so a
        # countdown task is never handed to a second worker while the first waits.
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
    }


def _folder_transport(url: str) -> dict[str, Any]:
    """The embedded broker: messages are files in the folder the URL names (`filesystem:///path`)."""
    root = Path(url[len("filesystem://") :] or ".broker")
    for sub in ("queue", "processed", "control"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "processed_folder": str(root / "processed"),
        "control_folder": str(root / "control"),
        "store_processed": False,
    }


def _common(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.broker_url,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        # A task is acknowledged only when it has finished, and a task whose
        # worker died is put back, so a crash never loses a job.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        # The tasks wait on the network, not the CPU: a few messages ahead per slot.
        "worker_prefetch_multiplier": settings.worker_prefetch_multiplier,
        # Countdown tasks are held in the worker's memory; this bounds how many.
        "worker_eta_task_limit": settings.worker_eta_task_limit,
        # Lanes: each kind of work waits in its own queue (see worker/lanes.py); a
        # worker started without -Q serves them all.
        "task_queues": lanes.queues(),
        "task_routes": (lanes.route,),
        "task_default_queue": lanes.SUBMIT,
        "task_create_missing_queues": False,
        # Flower sees every task: sent, started, retried, failed.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        "broker_connection_retry_on_startup": True,
        "enable_utc": True,
        # No task runs for ever: a soft limit (a retry) then a hard one, both under the broker's
        # redelivery horizon so a running task is never handed to a second worker.
        "task_soft_time_limit": settings.soft_time_limit_s,
        "task_time_limit": settings.time_limit_s,
        # For `celery -A worker beat` where the workers' timer is off: the same recovery it sends.
        "beat_schedule": {
            "recover-stalled-jobs": {
                "task": "scenario.recover",
                "schedule": settings.recovery_interval_s or 10.0,
                "options": {"queue": lanes.WATCH},
            }
        },
    }


def send_to(settings: Settings) -> None:
    """Make this process's app send to the settings' broker from now on, whichever it sent to before."""
    app.conf.update(celery_config(settings))
    # Drops the connection and producer pools, which were made for the broker before.
    app._after_fork()
    # The task-sent events' exchange is typed for the broker it was first made on (fanout on
    # Redis, topic on RabbitMQ): kept across a change of broker, those events reach no one.
    app.amqp.__dict__.pop("_event_dispatcher", None)


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    sender.config_from_object(celery_config(runtime.current_settings()))


@celeryd_init.connect
def _json_from_the_start(instance: Any, **_: Any) -> None:
    """With the JSON format, the worker's start says nothing that is not a JSON line."""
    settings = runtime.current_settings()
    if settings.log_format != "json":
        return
    # The banner is a picture for people; the same facts are in the settings.
    instance.quiet = True
    # Warnings raised before Celery sets up its logging (running as root, say) become JSON lines too.
    logs.configure(settings.log_level.upper(), settings)
    logging.captureWarnings(True)


@after_setup_logger.connect
def _worker_logging(logger: logging.Logger, **_: Any) -> None:
    settings = runtime.current_settings()
    logging.getLogger("worker").setLevel(settings.log_level.upper())
    logs.use_format([logger], settings)


@after_setup_task_logger.connect
def _task_logging(logger: logging.Logger, **_: Any) -> None:
    # Celery's task logger has its own handlers and does not propagate to the root's.
    logs.use_format([logger], runtime.current_settings())


# The pool's processes are forked at a start without a full collection before each.
_start_freeze = forking.StartFreeze()


@worker_before_create_process.connect
def _freeze_before_fork(**_: Any) -> None:
    _start_freeze.before_fork()


@worker_ready.connect
def _thaw_once_the_pool_runs(**_: Any) -> None:
    _start_freeze.pool_running()


@worker_init.connect
def _metrics_before_fork(**_: Any) -> None:
    serve.prepare_worker(runtime.current_settings())


@worker_ready.connect
def _serve_metrics(**_: Any) -> None:
    serve.serve_worker(runtime.current_settings())


@worker_shutdown.connect
def _metrics_stopped(**_: Any) -> None:
    serve.worker_stopped()


@worker_ready.connect
def _say_what_is_off(**_: Any) -> None:
    settings = runtime.current_settings()
    if settings.fleet_redis_url is None:
        # Not an error: one worker on RabbitMQ or the embedded broker runs without them.
        logging.getLogger("worker").warning(
            "no Redis for the fleet's shared state (set SCENARIO_REDIS_URL): the request budget, the pause "
            "after a 429 or 401, the parallel slots and the batched sweep are off, each process keeps its own "
            "breaker, and batch jobs are polled one by one; who sends a job is still decided by its row"
        )


@worker_ready.connect
def _quiet_shutdown(sender: Any, **_: Any) -> None:
    # Celery prints "worker: Warm shutdown" straight to the terminal on SIGTERM, outside logging;
    # with the JSON format its handlers are put back without that line.
    if runtime.current_settings().log_format != "json":
        return
    from celery.apps import worker as celery_worker

    controller = getattr(sender, "controller", None)
    if controller is not None:
        celery_worker.install_worker_term_handler(controller, verbose=False)
        celery_worker.install_worker_term_hard_handler(controller, verbose=False)


@worker_process_init.connect
def _fresh_runtime_in_child(**_: Any) -> None:
    # The parent's database pool and HTTP sockets must not be shared after fork.
    runtime.forget()
    # So a warm shutdown is not held 30 s by results the main process no longer reads.
    shutdown.bound_the_result_handover()


@worker_process_shutdown.connect
def _close_runtime(**_: Any) -> None:
    serve.process_exited()
    runtime.forget()
