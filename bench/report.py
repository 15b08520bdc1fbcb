"""The benchmark's one table, and the page that keeps the latest one."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class Sizes:
    enqueue_items: int
    throughput_jobs: int
    in_flight: int
    probes: int
    fill_s: float
    jobs: int
    job_s: float


def render_table(figures: Any, sizes: Sizes, concurrency: int) -> str:
    """Markdown rows: what was measured, the figure, the goal."""
    t, b, e = figures.throughput, figures.backlog, figures.enqueue
    m, idle = b["memory"], b["idle_memory"]
    single, batch = figures.per_job["single"], figures.per_job["batch"]
    rows = [
        ("measure", "figure", "goal"),
        (
            f"{t['jobs']} jobs end to end, concurrency {concurrency}: the pipeline's pace against bare Celery's "
            "three-message chain (same Redis)",
            f"{100 * t['ratio']:.0f}% (bare {t['bare_s']:.1f} s, pipeline {t['pipeline_s']:.1f} s)",
            ">= 40%",
        ),
        (
            f"a fresh job's submit delay, {sizes.probes} probes, behind {b['in_flight']} batch jobs in flight"
            + (f" ({b['waiting']} more waiting)" if b["waiting"] else ""),
            f"p50 {b['p50_s']:.2f} s, p95 {b['p95_s']:.2f} s",
            "p95 < 1 s",
        ),
        (
            f"worker memory at {b['in_flight']} in flight: {b['processes']} processes together; the main process; "
            "its largest pool child",
            f"PSS {m['pss']:.0f} MB (RSS {m['rss']:.0f} MB, shared pages once per process); "
            f"RSS {m['main_rss']:.0f} MB; RSS {m['child_rss']:.0f} MB",
            "RSS < 300 MB",
        ),
        (
            "the same worker idle, before the batch",
            f"PSS {idle['pss']:.0f} MB (RSS {idle['rss']:.0f} MB); RSS {idle['main_rss']:.0f} MB; "
            f"RSS {idle['child_rss']:.0f} MB",
            "-",
        ),
        (
            f"{e['items']:,}-item manifest parsed, checked, recorded and queued",
            f"{e['total_s']:.1f} s (parsing {e['parse_s']:.1f} s)",
            "< 60 s",
        ),
    ]
    for name, c in (("single jobs", single), ("jobs in a batch", batch)):
        rows.append(
            (
                f"{c['jobs']} {name} of {sizes.job_s:g} s: Scenario requests per job; status lag "
                "(Scenario's success to our row)",
                f"{c['requests']:.2f} req/job; lag p50 {c['lag_p50_s']:.2f} s, p95 {c['lag_p95_s']:.2f} s"
                + ("" if c["succeeded"] == c["jobs"] else f" ({c['succeeded']} of {c['jobs']} succeeded)"),
                "<= 1.5 req/job, p95 < 3 s",
            )
        )
        rows.append(
            (
                f"{name}: work per job, enqueue to final",
                f"{c['statements']:.1f} SQL statements in {c['transactions']:.1f} transactions, "
                f"{c['redis']:.1f} Redis commands, broker included ("
                + ", ".join(f"{name} {calls:.1f}" for name, calls in c["redis_top"])
                + ")",
                "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [_row(rows[0], widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [_row(row, widths) for row in rows[1:]]
    return "\n".join(lines)


def _row(cells: tuple[str, str, str], widths: list[int]) -> str:
    return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"


def render_markdown(table: str, command: str) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "# Benchmarks\n\n"
        "The latest run of `make bench`: each line on a system of its own (a private Redis server, a "
        "throwaway PostgreSQL database, the simulator, workers of the same concurrency). "
        "`make bench BENCH_ARGS=--quick` runs a smaller one.\n\n"
        f"- command: `{command}`\n- date: {when}\n- machine: {_machine()}\n\n{table}\n\n{NOTES}"
    )


NOTES = """How to read it:

- **Pace against bare Celery**: the same jobs (0.5 s each in the simulator) through a chain of
  three bare Celery tasks (submit, poll every 0.2 s, store; no database, no leases) and then
  through the pipeline (`enqueue_many`, the sweep every 2 s), each from first enqueue to last
  job final; the figure is bare time over pipeline time.
- **Strict ratio** (`--only strict`): the same comparison with nothing to hide behind: 0-s
  renders, so each job costs only the pipeline's own work; single `enqueue_generation` calls
  (one INSERT and one publish each), then one `enqueue_many`, each on a system of its own
  where bare Celery's chain runs first; work per job is counted for both sides. Statements
  are what SQLAlchemy runs; a Lua script's commands each count in Redis' own figures.
- **Submit delay**: from `enqueue_generation` returning to the job's row holding its Scenario
  job id, for single jobs sent one after another while the batch's jobs run (an hour each).
- **Memory**: taken when the batch is in flight, before the probes, and of the same worker
  idle: most of the sum is the five Python processes themselves (RSS counts the pages a pool
  child shares with its parent again in each child; PSS shares them out).
- **Work per job**: Scenario requests from the simulator's counts, SQL statements and
  transactions from SQLAlchemy events in every process (`bench/instrumented.py`), Redis
  commands from the benchmark's own Redis server (`INFO commandstats`), broker traffic,
  task events, leases and the fleet's parallel slots included; the four commands run most
  are named.
- **Plan** (`--only plan`): the simulator refuses a fifth running job as Scenario does (a cap of
  4), 3-s renders, two workers; a library with an app's single jobs arriving meanwhile, a batch
  alone, and a small batch started beside a big library. The library and the batch alone run
  again with Scenario's webhooks on (the simulator posts each job's end to a console, which
  wakes one look at the job); the floor is the renders back to back, four at a time.
- **Growth** (`--only growth`): a batch and one ten times its size, 0.5-s renders and no plan
  cap, each on a system of its own, from the manifest handed to `submit_batch` to its last
  item final; the figure is the big batch's time per item over the small one's, so work that
  grows with the batch rather than with what changed shows above 1.
"""


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages * size / 2**30:.0f} GB RAM"
    except (ValueError, OSError):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores{memory}, {system}, Python {platform.python_version()}"
