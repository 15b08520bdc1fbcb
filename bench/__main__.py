"""Scenario requests per finished job for a large batch, batched sweep against per-job polling.

Every mode runs the same batch against a fresh simulator, database and worker
in this one run, so the figures compare like with like. Usage:

    python -m bench [--jobs 500] [--job-seconds 20] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import redis

from worker.cli.localstack import local_worker

MODES = {
    "batched sweep": {"SCENARIO_BATCHED_POLLING": "true"},
    "per-job, adaptive": {"SCENARIO_BATCHED_POLLING": "false"},
    "per-job, every 2 s": {
        "SCENARIO_BATCHED_POLLING": "false",
        "SCENARIO_POLL_INITIAL_S": "2",
        "SCENARIO_POLL_GROWTH": "1",
        "SCENARIO_POLL_MAX_S": "2",
    },
}
BASELINE = "per-job, every 2 s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--job-seconds", type=float, default=20.0, help="how long each job renders in the simulator")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--redis",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="a Redis DB the benchmark may empty (default DB 14)",
    )
    parser.add_argument("--modes", nargs="*", choices=list(MODES), default=list(MODES))
    args = parser.parse_args(argv)

    results = []
    for mode in args.modes:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            results.append((mode, run_mode(mode, Path(tmp), args)))
            print(f"  {mode}: {results[-1][1]['per_job']:.2f} requests per job", flush=True)
    report(results, args)
    return 0


def run_mode(mode: str, workdir: Path, args: argparse.Namespace) -> dict:
    from worker.simulator import Simulator, SimulatorConfig

    broker = redis.Redis.from_url(args.redis)
    broker.flushdb()
    config = SimulatorConfig(
        api_key="bench",
        api_secret="bench-secret",
        job_duration_s=args.job_seconds,
        job_duration_jitter=0.1,
        seed=1,
        max_jobs=args.jobs * 2,
    )
    with Simulator(config, port=0) as sim:
        env = {
            "CELERY_BROKER_URL": args.redis,
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "SCENARIO_API_URL": sim.api_url,
            "SCENARIO_API_KEY": "bench",
            "SCENARIO_API_SECRET": "bench-secret",
            "SCENARIO_LOG_LEVEL": "WARNING",
            **MODES[mode],
        }
        try:
            with local_worker(env, log_path=workdir / "worker.log", concurrency=args.concurrency):
                progress, wall_s = _run_batch(workdir, args)
        finally:
            broker.flushdb()
        stats = sim.stats()
    api = {k: sum(v.values()) for k, v in stats["requests"].items() if k not in ("download", "unknown")}
    finished = max(1, progress.succeeded)
    return {
        "finished": progress.succeeded,
        "jobs": args.jobs,
        "api": api,
        "total": sum(api.values()),
        "per_job": sum(api.values()) / finished,
        "downloads": sum(stats["requests"].get("download", {}).values()),
        "wall_s": wall_s,
        "duplicates": stats["duplicate_submissions"],
    }


def _run_batch(workdir: Path, args: argparse.Namespace):
    """Submit the benchmark batch and wait until every job is final and every image fetched."""
    from worker.batches.manifest import parse_manifest
    from worker.batches.runs import batch_progress, submit_batch

    items = "\n".join(f"  - name: item-{n:04d}\n    prompt: bench item {n}" for n in range(args.jobs))
    manifest = parse_manifest(
        f"batch: bench\ndefaults:\n  width: 256\n  height: 256\nitems:\n{items}\n", kind="yaml", source="bench.yaml"
    )
    started = time.monotonic()
    submit_batch(manifest, out_dir=workdir / "images")
    deadline = started + args.job_seconds * 10 + 120
    progress = batch_progress("bench")
    while not progress.settled and time.monotonic() < deadline:
        time.sleep(1.0)
        progress = batch_progress("bench")
    return progress, time.monotonic() - started


def report(results: list[tuple[str, dict]], args: argparse.Namespace) -> None:
    base = dict(results).get(BASELINE)
    print()
    print(f"{args.jobs} jobs of {args.job_seconds:g} s each, worker concurrency {args.concurrency}")
    print(
        f"{'mode':<20} {'finished':>8} {'API req':>8} {'req/job':>8} {'vs ' + BASELINE:>22} {'wall s':>7}  by endpoint"
    )
    for mode, r in results:
        ratio = f"{r['per_job'] / base['per_job']:.3f}x" if base else "-"
        endpoints = ", ".join(f"{k} {v}" for k, v in sorted(r["api"].items()))
        print(
            f"{mode:<20} {r['finished']:>8} {r['total']:>8} {r['per_job']:>8.2f} {ratio:>22} {r['wall_s']:>7.1f}"
            f"  {endpoints}"
        )
    for mode, r in results:
        if r["finished"] < r["jobs"] or r["duplicates"]:
            print(f"warning: {mode}: {r['finished']} of {r['jobs']} finished, {r['duplicates']} duplicate submissions")


if __name__ == "__main__":
    sys.exit(main())
