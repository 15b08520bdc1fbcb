"""The worker's own Celery app, with its database statements counted for the benchmark.

`celery -A bench.instrumented worker` runs exactly the tasks of `celery -A worker worker`;
each process writes its counts to BENCH_COUNTS_DIR after every task.
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import task_postrun

from bench.counters import StatementCounter, dump_counts
from worker.celery_app import app

__all__ = ["app"]

COUNTER = StatementCounter().attach()


@task_postrun.connect
def _write_counts(**_: Any) -> None:
    folder = os.environ.get("BENCH_COUNTS_DIR")
    if folder:
        dump_counts(COUNTER.counts, folder)
