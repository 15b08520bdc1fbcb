"""The worker's own Celery app, with its database statements counted for the benchmark.

`celery -A bench.instrumented worker` runs exactly the tasks of `celery -A worker worker`;
each pool process writes its counts to BENCH_COUNTS_DIR a few times a second while they change
(a file written after every task was a cost bare Celery, measured beside it, never pays). With BENCH_PROFILE_DIR
set, each pool process also runs under cProfile and writes its profile there (`<pid>.prof`)
every few hundred tasks and when it stops, to find where a job's time goes.
"""

from __future__ import annotations

import cProfile
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, worker_process_init, worker_process_shutdown

from bench.counters import StatementCounter, dump_counts
from worker.celery_app import app

__all__ = ["app"]

COUNTER = StatementCounter().attach()
PROFILE_EVERY_TASKS = 200
# The benchmark reads the counts a second after the last job ends: well after the last write.
WRITE_EVERY_S = 0.2

_profile: cProfile.Profile | None = None
_tasks = 0
_stop = threading.Event()


@task_postrun.connect
def _count_task(**_: Any) -> None:
    global _tasks
    _tasks += 1
    if _profile is not None and _tasks % PROFILE_EVERY_TASKS == 0:
        _dump_profile()


def _write_counts_while_running(folder: str) -> None:
    written: dict[str, int] = {}
    while True:
        stopping = _stop.wait(WRITE_EVERY_S)
        counts = dict(COUNTER.counts)  # one copy, taken at once, while tasks go on counting
        if counts != written:
            dump_counts(Counter(counts), folder)
            written = counts
        if stopping:
            return


@worker_process_init.connect
def _start_counting(**_: Any) -> None:
    global _profile
    folder = os.environ.get("BENCH_COUNTS_DIR")
    if folder:
        threading.Thread(target=_write_counts_while_running, args=(folder,), name="bench-counts", daemon=True).start()
    if os.environ.get("BENCH_PROFILE_DIR"):
        _profile = cProfile.Profile()
        _profile.enable()


@worker_process_shutdown.connect
def _stop_counting(**_: Any) -> None:
    _stop.set()
    folder = os.environ.get("BENCH_COUNTS_DIR")
    if folder:
        dump_counts(Counter(COUNTER.counts), folder)
    if _profile is not None:
        _dump_profile()


def _dump_profile() -> None:
    assert _profile is not None
    _profile.disable()
    _profile.dump_stats(Path(os.environ["BENCH_PROFILE_DIR"], f"{os.getpid()}.prof"))
    _profile.enable()
