"""The pipeline under load, in one table from one run, also written to docs/benchmarks.md.

Every measurement runs on a system of its own (a private Redis server, a throwaway
PostgreSQL database, the simulator, workers of the given concurrency). Usage:

    python -m bench [--quick] [--concurrency 2] [--only pipeline|strict|plan|rows|growth] [--plan-big N]
                    [--out docs/benchmarks.md]

`--only rows` runs the reads at a million rows alone (bench/rows.py); `--only strict` the strict
end-to-end ratio against bare Celery (bench/strict.py); `--only pipeline` the jobs under load;
`--only growth` a batch's time per item at ten times the size (bench/growth.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import growth, hints, plan, rows, sections, strict
from bench.report import Sizes, render_markdown, render_table

FULL = Sizes(
    enqueue_items=100_000, throughput_jobs=1_000, in_flight=10_000, probes=20, fill_s=300.0, jobs=200, job_s=10.0
)
QUICK = Sizes(enqueue_items=10_000, throughput_jobs=200, in_flight=1_000, probes=20, fill_s=60.0, jobs=50, job_s=5.0)


SECTIONS = ("pipeline", "strict", "plan", "rows", "growth")
# The growth section's small batch; the big one is ten times it.
GROWTH_SMALL, QUICK_GROWTH_SMALL = 2_000, 200
# Jobs of the strict ratio: enough that a run lasts seconds at bare Celery's pace.
STRICT_JOBS, QUICK_STRICT_JOBS = 2_000, 500


@dataclass
class Figures:
    enqueue: dict
    throughput: dict
    backlog: dict
    per_job: dict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (about two minutes)")
    # Two processes: the goals are stated for one worker of concurrency 2 on this 2-core machine.
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes, for bare Celery and ours alike")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="where the table is written")
    parser.add_argument(
        "--only",
        choices=SECTIONS,
        action="append",
        metavar="SECTION",
        help="run only this section (repeatable): pipeline (the jobs under load), strict (the strict "
        "end-to-end ratio against bare Celery, 0-s renders), plan (a cap of 4 "
        "shared by a library and an app's jobs), rows (reads at a million rows) or growth (a batch's "
        "time per item at ten times the size)",
    )
    parser.add_argument(
        "--plan-big",
        type=int,
        default=None,
        metavar="N",
        help="items of the big library a small batch is started beside in the plan section "
        "(default 1,000; 200 with --quick)",
    )
    args = parser.parse_args(argv)
    chosen = args.only or list(SECTIONS)
    sizes = QUICK if args.quick else FULL
    flags = ["--quick"] if args.quick else []
    if args.concurrency != 2:
        flags.append(f"--concurrency {args.concurrency}")
    flags += [f"--only {section}" for section in args.only or ()]
    if args.plan_big is not None:
        flags.append(f"--plan-big {args.plan_big}")
    command = "make bench" + (f' BENCH_ARGS="{" ".join(flags)}"' if flags else "")
    started = time.monotonic()
    tables = []
    if "pipeline" in chosen:
        tables.append(_pipeline(sizes, args.concurrency))
    if "strict" in chosen:
        jobs = QUICK_STRICT_JOBS if args.quick else STRICT_JOBS
        _say(f"strict: {jobs} jobs of 0 s through bare Celery, then singles; again, then enqueue_many")
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            tables.append(strict.render(strict.strict(Path(tmp), jobs, args.concurrency), args.concurrency))
    if "plan" in chosen:
        library = 40 if args.quick else 100
        _say(f"plan: a {library}-item library of 3-s renders under a cap of 4, and an app's single jobs meanwhile")
        big = args.plan_big if args.plan_big is not None else (200 if args.quick else 1_000)
        tables.append(_plan(library, big, args.concurrency))
    if "rows" in chosen:
        row_sizes = rows.QUICK_ROWS if args.quick else rows.FULL_ROWS
        _say(f"rows: {row_sizes.jobs:,} jobs seeded in PostgreSQL, then each hot read timed, then a purge")
        tables.append(rows.render_rows(rows.rows_section(row_sizes)))
    if "growth" in chosen:
        small = QUICK_GROWTH_SMALL if args.quick else GROWTH_SMALL
        _say(f"growth: a {small:,}-item batch of 0.5-s renders, then one of {10 * small:,}")
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            figures = growth.growth(Path(tmp), small=small, concurrency=args.concurrency)
        tables.append(_table(("a batch's size", "figure", "goal"), growth.rows(figures)))
    table = "\n\n".join(tables)
    print()
    print(table)
    print(f"\n({time.monotonic() - started:.0f} s in all)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_markdown(table, command))
    print(f"written to {args.out}")
    return 0


def _pipeline(sizes: Sizes, concurrency: int) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        _say(f"enqueue: {sizes.enqueue_items} items")
        enqueue = sections.enqueue_items(work, sizes.enqueue_items)
        _say(f"throughput: {sizes.throughput_jobs} jobs through bare Celery, then the pipeline")
        throughput = sections.bare_vs_pipeline(work, sizes.throughput_jobs, concurrency)
        _say(f"backlog: {sizes.probes} fresh jobs behind {sizes.in_flight} in flight")
        backlog = sections.backlog(work, sizes.in_flight, sizes.probes, concurrency, sizes.fill_s)
        _say(f"per job: {sizes.jobs} single jobs, then a batch of {sizes.jobs}, {sizes.job_s:g} s each")
        per_job = sections.per_job(work, sizes.jobs, sizes.job_s, concurrency)
    return render_table(Figures(enqueue, throughput, backlog, per_job), sizes, concurrency)


def _plan(library: int, big: int, concurrency: int) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        figures = plan.plan_share(Path(tmp), library=library, singles=5, job_s=3.0, concurrency=concurrency)
        hooked = _plan_with_webhooks(Path(tmp), library, concurrency)
    lines = [("the team's plan as the limit", "figure", "goal"), *plan.rows(figures), *hints.rows(figures, hooked)]
    lines += _plan_makespan(library, concurrency)
    lines += _plan_small_beside_big(big, concurrency)
    return "\n".join(
        "| " + " | ".join(line) + " |" + ("\n| --- | --- | --- |" if i == 0 else "") for i, line in enumerate(lines)
    )


def _plan_makespan(jobs: int, concurrency: int) -> list[tuple[str, str, str]]:
    _say(f"plan: makespan of a {jobs}-item batch of 3-s renders alone under a cap of 4")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        figures = plan.plan_makespan(Path(tmp), jobs=jobs, job_s=3.0, concurrency=concurrency)
        _say("plan: the same batch alone with Scenario's webhooks on")
        hooked = plan.plan_makespan(Path(tmp), jobs=jobs, job_s=3.0, concurrency=concurrency, with_webhooks=True)
    return plan.makespan_rows(figures, hooked)


def _plan_small_beside_big(big: int, concurrency: int) -> list[tuple[str, str, str]]:
    _say(f"plan: a 20-item batch started 10 s after a {big}-item library, cap 4, until the small one is done")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        figures = plan.plan_small_beside_big(
            Path(tmp), library=big, small=20, after_s=10.0, job_s=3.0, concurrency=concurrency
        )
    return plan.small_beside_big_rows(figures)


def _plan_with_webhooks(work: Path, library: int, concurrency: int) -> dict:
    _say("plan again, with Scenario's webhooks on: each job's end sent to a console as a hint")
    return plan.plan_share(work, library=library, singles=5, job_s=3.0, concurrency=concurrency, with_webhooks=True)


def _table(head: tuple[str, str, str], lines: list[tuple[str, str, str]]) -> str:
    rendered = ["| " + " | ".join(head) + " |", "| --- | --- | --- |"]
    return "\n".join(rendered + ["| " + " | ".join(line) + " |" for line in lines])


def _say(text: str) -> None:
    print(f"  {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
