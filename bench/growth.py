"""Cost per item as a batch grows: a batch ten times larger should take ten times as long, not more.

A small batch and one ten times its size, each on a system of its own (0.5-s renders, no plan
cap, one worker of the given concurrency, production's watch settings), timed from the manifest
handed to `submit_batch` to the last item final. Work that grows with the batch instead of with
what changed (a download run reading every job, a sweep listing more than ended, a recovery
query that is not bounded) shows as a per-item ratio above 1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.sections import WATCH_ENV, manifest_text, sim_config
from bench.stack import stack

JOB_S = 0.5
# Above this share of the small batch's time per item, the big one's cost grows faster than it.
GOAL = 1.1


def batch_time(workdir: Path, *, items: int, concurrency: int, job_s: float = JOB_S) -> dict[str, Any]:
    """One batch of `items` renders from submit to its last item final; seconds in all and per item."""
    from worker import runtime
    from worker.batches.manifest import parse_manifest
    from worker.batches.submit import submit_batch
    from worker.states import JobStatus

    name = f"growth-{items}"
    with stack(workdir / name, sim_config(job_s=job_s, max_jobs=items + 1_000)) as st:
        st.start_workers(concurrency=concurrency, **WATCH_ENV)
        manifest = parse_manifest(manifest_text(name, items), kind="yaml", source=f"{name}.yaml")
        batches = runtime.current().batches
        started = time.monotonic()
        report = submit_batch(manifest)
        queued_s = time.monotonic() - started
        deadline = started + 120 + 20 * items * job_s / concurrency
        while True:
            # The batch's progress as `batch status` reads it, from its few tally rows: a count of
            # its jobs twice a second would cost the machine more the larger the batch.
            counts = {row.status: row.jobs for row in batches.tally(report.batch.id).statuses}
            unfinished = sum(n for status, n in counts.items() if not status.is_final)
            if not unfinished:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{unfinished} of {items} items of {name} did not finish")
            time.sleep(0.5)
        total_s = time.monotonic() - started
    return {
        "items": items,
        "succeeded": counts.get(JobStatus.SUCCESS, 0),
        "queued_s": queued_s,
        "total_s": total_s,
        "per_item_ms": 1000 * total_s / items,
    }


def growth(workdir: Path, *, small: int, concurrency: int) -> dict[str, Any]:
    """The small batch, then one ten times its size."""
    little = batch_time(workdir, items=small, concurrency=concurrency)
    big = batch_time(workdir, items=10 * small, concurrency=concurrency)
    return {"small": little, "big": big, "ratio": big["per_item_ms"] / little["per_item_ms"]}


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    small, big = figures["small"], figures["big"]
    return [
        (
            f"time per item of a {big['items']:,}-item batch against a {small['items']:,}-item one "
            f"({JOB_S:g}-s renders, no cap; {big['succeeded']:,} and {small['succeeded']:,} succeeded)",
            f"{figures['ratio']:.2f}x ({big['per_item_ms']:.1f} ms against {small['per_item_ms']:.1f} ms; "
            f"{big['total_s']:.0f} s and {small['total_s']:.0f} s, queued in {big['queued_s']:.1f} s "
            f"and {small['queued_s']:.1f} s)",
            f"<= {GOAL:g}x",
        ),
    ]
