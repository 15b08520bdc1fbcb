"""The measurements `python -m bench` makes, each on a system of its own; each returns its figures."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from bench.counters import StatementCounter, api_requests, redis_commands, worker_counts
from bench.stack import Stack, stack

KEY, SECRET = "bench", "bench-secret"
# Production's watch settings: a sweep every 2 s, a job looked at alone after 30 s unseen.
WATCH_ENV = {
    "SCENARIO_SWEEP_INTERVAL_S": "2",
    "SCENARIO_SWEEP_STALE_AFTER_S": "30",
    "SCENARIO_POLL_INITIAL_S": "1",
    "SCENARIO_POLL_MAX_S": "30",
    "SCENARIO_JOB_DEADLINE_S": "7200",
}
COUNTER = StatementCounter().attach()
COUNTER.on = False


def sim_config(*, job_s: float, max_jobs: int = 50_000):
    from worker.simulator import SimulatorConfig

    return SimulatorConfig(
        api_key=KEY, api_secret=SECRET, job_duration_s=job_s, job_duration_jitter=0.1, seed=1, max_jobs=max_jobs
    )


def manifest_text(name: str, items: int) -> str:
    lines = "".join(f"  - name: item-{n:06d}\n    prompt: {name} item {n}\n" for n in range(items))
    return f"batch: {name}\ndefaults:\n  width: 256\n  height: 256\nitems:\n{lines}"


def enqueue_items(workdir: Path, items: int) -> dict[str, Any]:
    """A manifest of `items` items parsed, checked, claimed, recorded and queued; no worker runs."""
    from worker.batches.manifest import parse_manifest
    from worker.batches.submit import submit_batch

    with stack(workdir / "enqueue", sim_config(job_s=1.0)):
        text = manifest_text("enqueue", items)
        started = time.monotonic()
        manifest = parse_manifest(text, kind="yaml", source="bench.yaml")
        parsed = time.monotonic()
        report = submit_batch(manifest)
        done = time.monotonic()
    return {"items": len(report.queued), "parse_s": parsed - started, "total_s": done - started}


def bare_vs_pipeline(workdir: Path, jobs: int, concurrency: int) -> dict[str, Any]:
    """The same jobs through bare Celery's three-message chain, then through the pipeline, on one Redis."""
    from bench import bare
    from worker import enqueue_many, runtime

    with stack(workdir / "throughput", sim_config(job_s=0.5)) as st:
        bare_workers = st.start_workers(app="bench.bare", concurrency=concurrency)
        bare.app.conf.broker_url = st.redis_url
        done = redis.Redis.from_url(st.redis_url)
        started = time.monotonic()
        for n in range(jobs):
            bare.send(n)
        _wait(lambda: int(done.get(bare.DONE_KEY) or 0) >= jobs, 600, "bare Celery's jobs")
        bare_s = time.monotonic() - started
        bare_workers.stop()

        st.start_workers(concurrency=concurrency, **WATCH_ENV)
        started = time.monotonic()
        enqueue_many([{"prompt": f"pipeline {n}", "width": 256, "height": 256} for n in range(jobs)])
        _wait(lambda: runtime.current().jobs.unfinished_count() == 0, 600, "the pipeline's jobs")
        pipeline_s = time.monotonic() - started
    return {"jobs": jobs, "bare_s": bare_s, "pipeline_s": pipeline_s, "ratio": bare_s / pipeline_s}


def backlog(workdir: Path, in_flight: int, probes: int, concurrency: int, wait_s: float) -> dict[str, Any]:
    """Fresh single jobs' submit delay, and the worker's memory, with a batch of `in_flight` long jobs running."""
    from worker import enqueue_generation, runtime
    from worker.batches.manifest import parse_manifest
    from worker.batches.submit import submit_batch
    from worker.states import JobStatus

    with stack(workdir / "backlog", sim_config(job_s=3_600.0, max_jobs=in_flight + 10_000)) as st:
        workers = st.start_workers(concurrency=concurrency, **WATCH_ENV)
        time.sleep(2.0)  # the pool children finish starting
        idle = workers.memory_mb()
        rt = runtime.current()
        report = submit_batch(parse_manifest(manifest_text("backlog", in_flight), kind="yaml", source="b.yaml"))

        def submitted() -> int:
            counts = rt.jobs.count_by_status(report.batch.id)
            return sum(counts.values()) - counts[JobStatus.CREATED]

        started = time.monotonic()
        while submitted() < in_flight and time.monotonic() - started < wait_s:
            time.sleep(2.0)
        running = submitted()
        memory = workers.memory_mb()
        delays = []
        for n in range(probes):
            sent = time.monotonic()
            job_id = enqueue_generation(f"probe {n}", width=256, height=256)
            _wait(lambda job_id=job_id: rt.jobs.get(job_id).scenario_job_id, 120, f"probe {n} to be submitted", 0.01)
            delays.append(time.monotonic() - sent)
            time.sleep(0.25)
        return {
            "in_flight": running,
            "waiting": in_flight - running,
            "fill_s": time.monotonic() - started,
            "p50_s": _percentile(delays, 50),
            "p95_s": _percentile(delays, 95),
            "memory": memory,
            "idle_memory": idle,
            "processes": concurrency + 1,
        }


def per_job(workdir: Path, jobs: int, job_s: float, concurrency: int) -> dict[str, dict[str, Any]]:
    """What one job costs from enqueue to final, and how late its row learns of Scenario's success."""
    from worker import enqueue_many, runtime
    from worker.batches.manifest import parse_manifest
    from worker.batches.submit import submit_batch

    with stack(workdir / "per-job", sim_config(job_s=job_s)) as st:
        st.start_workers(concurrency=concurrency, **WATCH_ENV)
        requests = [{"prompt": f"single {n}", "width": 256, "height": 256} for n in range(jobs)]
        single = _cost(st, lambda: enqueue_many(requests))
        manifest = parse_manifest(manifest_text("per-job", jobs), kind="yaml", source="per-job.yaml")

        def batch() -> list[str]:
            report = submit_batch(manifest)
            return [job.id for job in runtime.current().batches.jobs(report.batch.id)]

        return {"single": single, "batch": _cost(st, batch)}


def _cost(st: Stack, enqueue: Callable[[], list[str]]) -> dict[str, Any]:
    from worker import runtime

    jobs = runtime.current().jobs
    before = _tally(st)
    with COUNTER.counting():
        ids = enqueue()
    _wait(lambda: all(job.is_final for job in jobs.get_many(ids)), 900, "every job to finish", 1.0)
    time.sleep(1.0)  # the last task's counts are written just after it returns
    spent = _tally(st) - before
    rows = jobs.get_many(ids)
    lags = [lag for job in rows if (lag := _lag_s(job)) is not None]
    n = len(ids)
    return {
        "jobs": n,
        "succeeded": sum(1 for job in rows if job.status.value == "success"),
        "requests": spent["requests"] / n,
        "statements": spent["statements"] / n,
        "transactions": spent["transactions"] / n,
        "redis": spent["redis"] / n,
        "redis_top": [(name[len("redis:") :], spent[name] / n) for name, _ in _top_redis(spent)],
        "lag_p50_s": _percentile(lags, 50),
        "lag_p95_s": _percentile(lags, 95),
    }


def _tally(st: Stack) -> Counter[str]:
    counts = worker_counts(st.counts_dir) + COUNTER.counts
    counts["requests"] = api_requests(st.sim.stats())
    by_command = redis_commands(st.redis_url)
    counts["redis"] = sum(by_command.values())
    counts.update({f"redis:{name}": calls for name, calls in by_command.items()})
    return counts


def _top_redis(spent: Counter[str], top: int = 4) -> list[tuple[str, int]]:
    return Counter({k: v for k, v in spent.items() if k.startswith("redis:")}).most_common(top)


def _lag_s(job: Any) -> float | None:
    """Seconds from Scenario's success (its status history) to our row's end."""
    dates = [entry.get("date") for entry in job.status_history if entry.get("status") == "success"]
    if not dates or job.finished_at is None:
        return None
    return (job.finished_at - datetime.fromisoformat(str(dates[-1]).replace("Z", "+00:00"))).total_seconds()


def _percentile(values: list[float], pct: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _wait(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)
