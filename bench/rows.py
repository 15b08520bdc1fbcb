"""Reads at a million rows: the console's lists, `jobs list`, `batch status` and the sweep's queries.

A throwaway PostgreSQL database is filled by INSERT ... SELECT over generate_series (a
minute, not an hour of ORM inserts): 1,000,000 jobs over ninety days, one 100,000-item
batch and twenty of 500 among them, a few thousand unfinished, 3% dead with their letters.
Each read is then timed as its caller makes it, through the same code.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text

from bench.stack import throwaway_postgres

JOBS = 1_000_000
LIBRARY_ITEMS = 100_000
SMALL_BATCHES, SMALL_ITEMS = 20, 500
LIBRARY = "library"
# Every read is timed this many times, or for this long, whichever ends first (at least MIN_RUNS).
RUNS, MIN_RUNS, BUDGET_S = 20, 5, 20.0
GOAL_P95_MS = 200.0

# Every batch names a folder, so that the recovery asks each whether a download is left; none is
# written to (a purge deletes files only when asked).
_BATCHES = """
INSERT INTO batches (id, name, source, out_dir, item_count, created_at, updated_at)
SELECT md5('batch' || g), CASE WHEN g = 0 THEN 'library' ELSE 'small-' || g END, 'bench.yaml', '/bench/out/' || g,
       CASE WHEN g = 0 THEN :library ELSE :small_items END,
       now() - interval '90 days' + g * interval '1 hour', now() - interval '1 day'
FROM generate_series(0, :small_batches) AS g
"""

# n picks everything: the batch (the first 100,000, then twenty of 500), the status
# (one in a thousand running, one in a thousand not sent yet; of the rest 90% success,
# 3% failure, 4% dead, 3% canceled) and the creation time (ninety days, oldest first).
_JOBS = """
INSERT INTO jobs (id, scenario_job_id, model_id, params, status, scenario_status, progress, status_history,
                  asset_ids, attempts, deliveries, last_task_id, poll_seq, polls, batch_id, item_key, item_name,
                  tags, files, cu_cost, created_at, updated_at, submitted_at, finished_at, claim_fence, submit_seq)
SELECT md5(n::text),
       CASE WHEN s = 'created' THEN NULL ELSE 'job_' || n END,
       'flux.1-dev',
       json_build_object('prompt', 'bench item ' || n, 'width', 512, 'height', 512),
       s, CASE WHEN s IN ('created', 'dead') THEN NULL ELSE s END,
       CASE WHEN s = 'success' THEN 1.0 ELSE 0.0 END,
       '[]'::json, '[]'::json, 1, 1, NULL, 0, 0,
       b, CASE WHEN b IS NULL THEN NULL ELSE 'key-' || n END,
       CASE WHEN b IS NULL THEN NULL ELSE 'item-' || lpad(n::text, 7, '0') END,
       '["bench"]'::json,
       CASE WHEN b IS NOT NULL AND s = 'success'
            THEN json_build_array(json_build_object('file', 'item-' || lpad(n::text, 7, '0') || '.png',
                                                    'sha256', md5(n::text)))
            ELSE '[]'::json END,
       CASE WHEN s = 'created' THEN NULL ELSE 1.0 END,
       c,
       CASE WHEN s IN ('in-progress', 'created') THEN now() - (n % 600) * interval '1 second'
            ELSE c + interval '30 seconds' END,
       CASE WHEN s = 'created' THEN NULL ELSE c + interval '2 seconds' END,
       CASE WHEN s IN ('in-progress', 'created') THEN NULL ELSE c + interval '30 seconds' END,
       CASE WHEN s = 'created' THEN 0 ELSE 1 END, 1
FROM (
    SELECT n,
           CASE WHEN n <= :library THEN md5('batch0')
                WHEN n <= :library + :small_batches * :small_items
                THEN md5('batch' || ((n - :library - 1) / :small_items + 1))
           END AS b,
           CASE WHEN n % 1000 = 7 THEN 'in-progress'
                WHEN n % 1000 = 8 THEN 'created'
                WHEN n % 100 < 90 THEN 'success'
                WHEN n % 100 < 93 THEN 'failure'
                WHEN n % 100 < 97 THEN 'dead'
                ELSE 'canceled'
           END AS s,
           now() - interval '90 days' + interval '90 days' * n / :jobs AS c
    FROM generate_series(1, :jobs) AS n
) AS seed
"""

_LETTERS = """
INSERT INTO dead_letters (job_id, task_name, payload, reason, http_status, error_code, error_message, attempts,
                          scenario_job_id, status_history, created_at)
SELECT id, 'worker.tasks.submit_generation', json_build_object('model_id', model_id, 'params', params),
       CASE WHEN attempts % 2 = 0 THEN 'retries_exhausted' ELSE 'permanent_error' END,
       400, 'INVALID_PARAMETER', 'the model refused an input', 1, scenario_job_id, '[]'::json, finished_at
FROM jobs WHERE status = 'dead'
"""

_ITEMS = """
INSERT INTO batch_items (batch_id, name, item_key, job_id, claimed_at)
SELECT batch_id, item_name, item_key, id, created_at FROM jobs WHERE batch_id IS NOT NULL
"""


@dataclass(frozen=True)
class RowSizes:
    jobs: int = JOBS
    library: int = LIBRARY_ITEMS
    small_batches: int = SMALL_BATCHES
    small_items: int = SMALL_ITEMS


FULL_ROWS = RowSizes()
QUICK_ROWS = RowSizes(jobs=100_000, library=10_000, small_batches=20, small_items=50)


def seed(database_url: str, sizes: RowSizes = FULL_ROWS) -> dict[str, float]:
    """The schema by migration, then the rows in four statements; seconds each step took."""
    from worker.db.migrate import upgrade
    from worker.db.session import Database

    started = time.monotonic()
    upgrade(database_url)
    database = Database(database_url)
    times = {"schema_s": time.monotonic() - started}
    try:
        for name, statement in (("batches", _BATCHES), ("jobs", _JOBS), ("letters", _LETTERS), ("items", _ITEMS)):
            step = time.monotonic()
            with database.session() as session:
                # The statements name the tables plainly; they live in the package's own schema.
                session.execute(text(f"SET LOCAL search_path TO {database.schema}"))
                session.execute(text(statement), _used(statement, asdict(sizes)))
            times[f"{name}_s"] = time.monotonic() - step
        step = time.monotonic()
        with database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        times["analyze_s"] = time.monotonic() - step
    finally:
        database.dispose()
    return times


def _used(statement: str, values: dict[str, int]) -> dict[str, int]:
    return {name: value for name, value in values.items() if f":{name}" in statement}


def timed(read: Callable[[], Any]) -> dict[str, float]:
    """p50 and p95 of `read` in milliseconds, after one run that warms the caches."""
    read()
    samples: list[float] = []
    started = time.monotonic()
    while len(samples) < RUNS and (len(samples) < MIN_RUNS or time.monotonic() - started < BUDGET_S):
        begin = time.perf_counter()
        read()
        samples.append((time.perf_counter() - begin) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {"p50_ms": statistics.median(samples), "p95_ms": p95, "runs": len(samples)}


def reads(sizes: RowSizes = FULL_ROWS) -> list[tuple[str, Callable[[], Any]]]:
    """Each hot read, named as a person would look for it, made the way its caller makes it."""
    from worker import runtime
    from worker.batches.runs import batch_progress
    from worker.tasks.recovery import batches_awaiting_download

    rt = runtime.current()
    console = _console_client()
    deep = (datetime.now(timezone.utc) - timedelta(days=75)).strftime("%Y-%m-%dT%H:%M:%S")
    library = rt.batches.find(LIBRARY)
    assert library is not None
    some_scenario_jobs = [f"job_{n}" for n in range(1, 2001, 20)]

    def page(path: str) -> Callable[[], Any]:
        def get() -> None:
            answer = console.get(path)
            assert answer.status_code == 200, (path, answer.status_code)

        return get

    return [
        ("console /jobs, first page (100 newest)", page("/jobs")),
        (f"console /jobs?until={deep[:10]}, a deep page", page(f"/jobs?until={deep}")),
        ("console /jobs?status=failure, a deep page", page(f"/jobs?status=failure&until={deep}")),
        (f"console /jobs?batch={LIBRARY}", page(f"/jobs?batch={LIBRARY}")),
        (f"console /batches ({sizes.small_batches + 1} batches, one of {sizes.library:,} items)", page("/batches")),
        ("console /dead-letters, first page and groups", page("/dead-letters")),
        (
            "console /dead-letters, one group (a deep page)",
            page("/dead-letters?reason=permanent_error&code=INVALID_PARAMETER&status=400"),
        ),
        ("jobs list (50 newest)", lambda: rt.jobs.list(limit=50)),
        ("jobs list --status dead", lambda: rt.jobs.list(status=_status("dead"), limit=50)),
        (f"jobs list --batch {LIBRARY}", lambda: rt.jobs.list(batch_id=library.id, limit=50)),
        (f"batch status {LIBRARY} ({sizes.library:,} items)", lambda: batch_progress(LIBRARY)),
        ("sweep: jobs in flight", rt.jobs.in_flight),
        ("sweep: unfinished batch jobs, counted", rt.batches.unfinished_count),
        ("sweep: unfinished single jobs, counted", lambda: rt.jobs.unfinished_count(single_only=True)),
        ("recovery: stalled jobs (untouched 15 min)", lambda: rt.jobs.stalled(untouched_since=_ago(900))),
        ("recovery: downloads to re-arm (20 newest batches)", batches_awaiting_download),
        ("reconcile: Scenario jobs held, 100 ids", lambda: rt.jobs.held_scenario_jobs(some_scenario_jobs)),
    ]


def _status(value: str):
    from worker.states import JobStatus

    return JobStatus(value)


def _ago(seconds: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


def _console_client():
    from worker.console.app import create_app
    from worker.console.settings import ConsoleSettings, Login

    settings = ConsoleSettings(admin=None, viewer=Login("bench", "bench-password"), secret_key="b" * 40)
    client = create_app(settings).test_client()
    with client.session_transaction() as session:
        session.update(user="bench", role="viewer", csrf="bench")
    return client


def rows_section(sizes: RowSizes = FULL_ROWS) -> dict[str, Any]:
    """Rows seeded, every hot read timed, then a purge of the oldest third; figures per read, seeding, purge."""
    from worker import runtime
    from worker.settings import Settings

    with throwaway_postgres() as database_url:
        seeding = seed(database_url, sizes)
        env = {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "memory://",
            "SCENARIO_API_KEY": "bench",
            "SCENARIO_API_SECRET": "bench-secret",
            "SCENARIO_LOG_LEVEL": "WARNING",
        }
        runtime.install(Settings.from_env(env))
        try:
            figures = {name: timed(read) for name, read in reads(sizes)}
            writes = status_writes()
            purge = purge_oldest(days=60)
        finally:
            runtime.current().close()
            runtime.forget()
    return {"sizes": sizes, "seeding": seeding, "reads": figures, "writes": writes, "purge": purge}


def status_writes(count: int = 100) -> dict[str, dict[str, float]]:
    """A job moved from created to queued, one UPDATE each: batch jobs (their tally kept by the
    database in the same statement) against single jobs (no tally), on the same table."""
    from worker import runtime
    from worker.states import JobStatus

    rt = runtime.current()
    figures: dict[str, dict[str, float]] = {}
    for kind, of_batch in (("single", "IS NULL"), ("batch", "IS NOT NULL")):
        with rt.database.session() as session:
            table = rt.database.table("jobs")
            query = f"SELECT id FROM {table} WHERE status = 'created' AND batch_id {of_batch} LIMIT :n"
            ids = list(session.scalars(text(query), {"n": count}))
        samples = []
        for job_id in ids:
            begin = time.perf_counter()
            rt.jobs.mark_status(job_id, JobStatus.QUEUED)
            samples.append((time.perf_counter() - begin) * 1000)
        samples.sort()
        p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))] if samples else 0.0
        figures[kind] = {"p50_ms": statistics.median(samples) if samples else 0.0, "p95_ms": p95, "runs": len(samples)}
    return figures


def purge_oldest(days: int) -> dict[str, float]:
    """`jobs purge --before {days}d` as the CLI runs it: jobs deleted, seconds, and the longest chunk's time."""
    from worker.retention import DEFAULT_CHUNK, purge_jobs

    chunks: list[float] = []
    last = time.perf_counter()

    def on_progress(_deleted: int, _total: int) -> None:
        nonlocal last
        now = time.perf_counter()
        chunks.append((now - last) * 1000)
        last = now

    started = time.monotonic()
    report = purge_jobs(datetime.now(timezone.utc) - timedelta(days=days), chunk=DEFAULT_CHUNK, on_progress=on_progress)
    seconds = time.monotonic() - started
    chunks.sort()
    p95 = chunks[min(len(chunks) - 1, round(0.95 * (len(chunks) - 1)))] if chunks else 0.0
    return {"days": days, "jobs": report.jobs, "seconds": seconds, "chunk_p95_ms": p95, "chunk": DEFAULT_CHUNK}


def render_rows(figures: dict[str, Any]) -> str:
    """Markdown rows: each read's p50 and p95 against the goal."""
    seeding, sizes = figures["seeding"], figures["sizes"]
    header = f"read, on {sizes.jobs:,} jobs (seeded in {sum(seeding.values()):.0f} s)"
    rows = [(header, "p50 ms", "p95 ms", f"goal p95 < {GOAL_P95_MS:.0f} ms")]
    for name, f in figures["reads"].items():
        verdict = "ok" if f["p95_ms"] < GOAL_P95_MS else "SLOW"
        rows.append((name, f"{f['p50_ms']:.1f}", f"{f['p95_ms']:.1f}", verdict))
    writes = figures["writes"]
    single, batch = writes["single"], writes["batch"]
    ratio = batch["p50_ms"] / single["p50_ms"] if single["p50_ms"] else float("nan")
    rows.append(
        (
            f"a status change: single job ({single['runs']} jobs), no tally",
            f"{single['p50_ms']:.1f}",
            f"{single['p95_ms']:.1f}",
            "baseline",
        )
    )
    rows.append(
        (
            f"a status change: batch job ({batch['runs']} jobs), its tally kept",
            f"{batch['p50_ms']:.1f}",
            f"{batch['p95_ms']:.1f}",
            f"{ratio:.2f}x the single job's p50",
        )
    )
    purge = figures["purge"]
    rows.append(
        (
            f"jobs purge --before {purge['days']}d: {purge['jobs']:,} jobs in {purge['seconds']:.0f} s "
            f"({purge['jobs'] / max(purge['seconds'], 1e-9):,.0f}/s), chunks of {purge['chunk']}",
            "-",
            f"{purge['chunk_p95_ms']:.1f}",
            "per chunk (a transaction)",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(rows[0], widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows[1:]]
    return "\n".join(lines)
