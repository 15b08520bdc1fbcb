"""The worker's own Celery app, with its database statements counted for the benchmark.

`celery -A bench.instrumented worker` runs exactly the tasks of `celery -A worker worker`;
each process writes its counts to BENCH_COUNTS_DIR after every task. With BENCH_PROFILE_DIR
set, each pool process also runs under cProfile and writes its profile there (`<pid>.prof`)
every few hundred tasks and when it stops, to find where a job's time goes.
"""

from __future__ import annotations

import cProfile
import os
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, worker_process_init, worker_process_shutdown

from bench.counters import StatementCounter, dump_counts
from worker.celery_app import app

__all__ = ["app"]

COUNTER = StatementCounter().attach()
PROFILE_EVERY_TASKS = 200

_profile: cProfile.Profile | None = None
_tasks = 0


@task_postrun.connect
def _write_counts(**_: Any) -> None:
    global _tasks
    folder = os.environ.get("BENCH_COUNTS_DIR")
    if folder:
        dump_counts(COUNTER.counts, folder)
    _tasks += 1
    if _profile is not None and _tasks % PROFILE_EVERY_TASKS == 0:
        _dump_profile()


@worker_process_init.connect
def _start_profile(**_: Any) -> None:
    global _profile
    if os.environ.get("BENCH_PROFILE_DIR"):
        _profile = cProfile.Profile()
        _profile.enable()


@worker_process_shutdown.connect
def _stop_profile(**_: Any) -> None:
    if _profile is not None:
        _dump_profile()


def _dump_profile() -> None:
    assert _profile is not None
    _profile.disable()
    _profile.dump_stats(Path(os.environ["BENCH_PROFILE_DIR"], f"{os.getpid()}.prof"))
    _profile.enable()
