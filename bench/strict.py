"""The strict end-to-end ratio: the pipeline's pace against bare Celery's chain with nothing to hide behind.

0-s renders, so a job's cost is the pipeline's own work and not Scenario's; PostgreSQL;
one worker of the given concurrency; timed from the first enqueue to the last job final.
Single `enqueue_generation` calls (one INSERT and one publish each, as application code
makes them), then the same number through one `enqueue_many`, each on a fresh worker,
both against bare Celery's three-message chain measured on the same system just before.
Beside each pace: SQL statements and Redis commands per job, bare Celery's beside ours.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bench.sections import COUNTER, WATCH_ENV, _tally, _top_redis, _wait, sim_config
from bench.stack import Stack, stack

# A finished run is noticed within this; small beside the whole run's seconds.
DONE_POLL_S = 0.02


def strict(workdir: Path, jobs: int, concurrency: int) -> dict[str, Any]:
    from worker import enqueue_generation, enqueue_many

    requests = [{"prompt": f"strict {n}", "width": 256, "height": 256} for n in range(jobs)]

    def singles() -> None:
        for request in requests:
            enqueue_generation(**request)

    def many() -> None:
        enqueue_many(requests)

    figures: dict[str, Any] = {"jobs": jobs}
    for key, enqueue in (("single", singles), ("many", many)):
        # Each shape on a system of its own, bare Celery first on the very same one.
        with stack(workdir / f"strict-{key}", sim_config(job_s=0.0, max_jobs=2 * jobs + 1_000)) as st:
            bare = _bare(st, jobs, concurrency)
            ours = _pipeline(st, enqueue, jobs, concurrency)
        figures[key] = {**ours, "ratio": bare["s"] / ours["s"], "bare": bare}
    return figures


def _bare(st: Stack, jobs: int, concurrency: int) -> dict[str, Any]:
    from bench import bare

    workers = st.start_workers(app="bench.bare", concurrency=concurrency)
    bare.app.conf.broker_url = st.redis_url
    bare.app._after_fork()  # drops the pool made for an earlier system's broker
    done = redis.Redis.from_url(st.redis_url)
    before = _tally(st)
    started = time.monotonic()
    for n in range(jobs):
        bare.send(n)
    _wait(lambda: int(done.get(bare.DONE_KEY) or 0) >= jobs, 600, "bare Celery's jobs", DONE_POLL_S)
    seconds = time.monotonic() - started
    spent = _tally(st) - before
    workers.stop()
    # The benchmark's own reads of the done counter are not the chain's work.
    spent["redis"] -= spent["redis:get"]
    spent["redis:get"] = 0
    return {"s": seconds, **_per_job(spent, jobs)}


def _pipeline(st: Stack, enqueue: Callable[[], None], jobs: int, concurrency: int) -> dict[str, Any]:
    from worker import runtime

    workers = st.start_workers(concurrency=concurrency, **WATCH_ENV)
    rt = runtime.current()
    time.sleep(1.0)  # the pool children finish starting, as bare Celery's had
    before = _tally(st)
    started = time.monotonic()
    with COUNTER.counting():
        enqueue()
    _wait(lambda: rt.jobs.unfinished_count() == 0, 900, "the pipeline's jobs", DONE_POLL_S)
    seconds = time.monotonic() - started
    time.sleep(1.0)  # the last task's counts are written just after it returns
    spent = _tally(st) - before
    workers.stop()
    # The benchmark's own "how many are unfinished" reads ran outside COUNTER, so none is counted.
    return {"s": seconds, **_per_job(spent, jobs)}


def _per_job(spent: Counter[str], jobs: int) -> dict[str, Any]:
    return {
        "statements": spent["statements"] / jobs,
        "transactions": spent["transactions"] / jobs,
        "redis": spent["redis"] / jobs,
        "redis_top": [(name[len("redis:") :], spent[name] / jobs) for name, _ in _top_redis(spent, top=6)],
    }


def rows(figures: dict[str, Any], concurrency: int) -> list[tuple[str, str, str]]:
    n = figures["jobs"]
    lines = []
    for key, shape, goal in (
        ("single", f"{n} single `enqueue_generation` calls", ">= 0.40"),
        ("many", f"{n} jobs in one `enqueue_many`", ">= 0.60"),
    ):
        c = figures[key]
        bare = c["bare"]
        lines.append(
            (
                f"strict ratio, {shape}, 0-s renders, PostgreSQL, one worker of concurrency {concurrency}, "
                "first enqueue to last final, against bare Celery's chain just before on the same system",
                f"{c['ratio']:.2f} ({n / c['s']:.0f} jobs/s against {n / bare['s']:.0f})",
                goal,
            )
        )
        lines.append(
            (
                f"{shape}: work per job against bare Celery's (submit, poll, store)",
                f"ours {_work(c)}; bare {_work(bare)}",
                "-",
            )
        )
    return lines


def _work(c: dict[str, Any]) -> str:
    top = ", ".join(f"{name} {calls:.1f}" for name, calls in c["redis_top"] if calls >= 0.05)
    return (
        f"{c['statements']:.1f} SQL statements in {c['transactions']:.1f} transactions, "
        f"{c['redis']:.1f} Redis commands ({top})"
    )


def render(figures: dict[str, Any], concurrency: int) -> str:
    lines = [("the strict end-to-end ratio", "figure", "goal"), *rows(figures, concurrency)]
    return "\n".join(
        "| " + " | ".join(line) + " |" + ("\n| --- | --- | --- |" if i == 0 else "") for i, line in enumerate(lines)
    )
