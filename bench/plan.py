"""The team's plan as the binding limit: a few jobs at once, shared by a library and an app's jobs.

A library of 3-s renders fills a cap of 4 (Scenario refuses a fifth job with its parallel-limit
429, and the fleet knows its plan); meanwhile application code enqueues single jobs one by one.
Measured: how long each single job waited to be submitted, the library's makespan against the
floor its renders allow, and Scenario requests per job.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from bench.counters import api_requests
from bench.hints import WEBHOOK_GOAL, webhooks_on
from bench.stack import stack

KEY, SECRET = "bench", "bench-secret"
CAP = 4


def plan_share(
    workdir: Path, *, library: int, singles: int, job_s: float, concurrency: int, with_webhooks: bool = False
) -> dict[str, Any]:
    from worker import enqueue_generation, runtime
    from worker.batches.manifest import parse_manifest
    from worker.batches.submit import submit_batch
    from worker.simulator import SimulatorConfig

    config = SimulatorConfig(
        api_key=KEY, api_secret=SECRET, job_duration_s=job_s, job_duration_jitter=0.0, seed=1, parallel_inferences=CAP
    )
    name = "plan-webhooks" if with_webhooks else "plan"
    with stack(workdir / name, config, SCENARIO_PARALLEL_JOBS=str(CAP)) as st, webhooks_on(st, with_webhooks):
        for _ in range(2):
            st.start_workers(concurrency=concurrency, SCENARIO_SWEEP_INTERVAL_S="2", SCENARIO_POLL_INITIAL_S="1")
        lines = "".join(f"  - name: item-{n:04d}\n    prompt: library item {n}\n" for n in range(library))
        manifest = parse_manifest(
            f"batch: plan-library\ndefaults:\n  width: 256\n  height: 256\nitems:\n{lines}", kind="yaml", source="b"
        )
        started = time.monotonic()
        report = submit_batch(manifest)
        jobs = runtime.current().jobs
        library_ids = [job.id for job in runtime.current().batches.jobs(report.batch.id)]
        # The singles come while the library holds every slot: after two renders, then one a render.
        time.sleep(2 * job_s)
        single_ids = []
        for n in range(singles):
            single_ids.append(enqueue_generation(f"an app's single job {n}", width=256, height=256))
            time.sleep(job_s)
        ids = library_ids + single_ids
        deadline = time.monotonic() + 60 + 3 * library * job_s / CAP
        while not all(job.is_final for job in jobs.get_many(ids)):
            if time.monotonic() > deadline:
                raise TimeoutError("the plan benchmark's jobs did not all finish")
            time.sleep(0.5)
        rows = {job.id: job for job in jobs.get_many(ids)}
        waits = [(rows[i].submitted_at - rows[i].created_at).total_seconds() for i in single_ids]
        first = min(rows[i].created_at for i in library_ids)
        last = max(rows[i].finished_at for i in library_ids)
        stats = st.sim.stats()
        requests = api_requests(stats)
    renders = len(ids)
    return {
        "library": library,
        "singles": singles,
        "job_s": job_s,
        "succeeded": sum(1 for job in rows.values() if job.status.value == "success"),
        "single_wait_max_s": max(waits),
        "single_wait_p50_s": sorted(waits)[len(waits) // 2],
        "makespan_s": (last - first).total_seconds(),
        # The renders of the library and the singles, CAP at a time, back to back.
        "floor_s": math.ceil(renders / CAP) * job_s,
        "requests_per_job": requests / renders,
        "elapsed_s": time.monotonic() - started,
        "webhooks": stats["webhooks"],
        "requests_by_endpoint": {
            endpoint: sum(outcomes.values()) for endpoint, outcomes in stats["requests"].items() if outcomes
        },
    }


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    f = figures
    return [
        (
            f"an app's single job under a cap of {CAP} held by a {f['library']}-item library of "
            f"{f['job_s']:g}-s renders: its wait to be submitted ({f['singles']} jobs)",
            f"max {f['single_wait_max_s']:.1f} s, p50 {f['single_wait_p50_s']:.1f} s",
            f"<= {2 * f['job_s']:g} s (2 renders)",
        ),
        (
            f"makespan of the library and the singles under a cap of {CAP} against the floor "
            f"({f['succeeded']} succeeded)",
            f"{f['makespan_s'] / f['floor_s']:.2f}x ({f['makespan_s']:.1f} s against {f['floor_s']:.1f} s)",
            "<= 1.10x",
        ),
        (
            "Scenario requests per job under that cap (webhooks off)",
            f"{f['requests_per_job']:.2f}",
            "<= 1.5",
        ),
    ]


def _manifest(name: str, items: int):
    from worker.batches.manifest import parse_manifest

    lines = "".join(f"  - name: item-{n:05d}\n    prompt: {name} item {n}\n" for n in range(items))
    text = f"batch: {name}\ndefaults:\n  width: 256\n  height: 256\nitems:\n{lines}"
    return parse_manifest(text, kind="yaml", source=name)


def _plan_stack(workdir: Path, job_s: float, concurrency: int):
    """The plan section's system: a simulator refusing a fifth job, two workers of `concurrency`."""
    from worker.simulator import SimulatorConfig

    config = SimulatorConfig(
        api_key=KEY, api_secret=SECRET, job_duration_s=job_s, job_duration_jitter=0.0, seed=1, parallel_inferences=CAP
    )
    return stack(workdir, config, SCENARIO_PARALLEL_JOBS=str(CAP))


def _start_workers(st: Any, concurrency: int) -> None:
    for _ in range(2):
        st.start_workers(concurrency=concurrency, SCENARIO_SWEEP_INTERVAL_S="2", SCENARIO_POLL_INITIAL_S="1")


def _wait_final(ids: list[str], timeout_s: float) -> dict[str, Any]:
    from worker import runtime

    jobs = runtime.current().jobs
    deadline = time.monotonic() + timeout_s
    while True:
        rows = {job.id: job for job in jobs.get_many(ids)}
        if all(job.is_final for job in rows.values()):
            return rows
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(not j.is_final for j in rows.values())} of {len(ids)} jobs did not finish")
        time.sleep(0.25)


def _span_s(rows: dict[str, Any]) -> float:
    first = min(job.created_at for job in rows.values())
    last = max(job.finished_at for job in rows.values())
    return (last - first).total_seconds()


def plan_makespan(
    workdir: Path, *, jobs: int, job_s: float, concurrency: int, with_webhooks: bool = False
) -> dict[str, Any]:
    """A batch of `jobs` renders alone under the cap: its makespan against the floor, requests per job."""
    from worker import runtime
    from worker.batches.submit import submit_batch

    name = "makespan-webhooks" if with_webhooks else "makespan"
    with _plan_stack(workdir / name, job_s, concurrency) as st, webhooks_on(st, with_webhooks):
        _start_workers(st, concurrency)
        report = submit_batch(_manifest("plan-makespan", jobs))
        ids = [job.id for job in runtime.current().batches.jobs(report.batch.id)]
        rows = _wait_final(ids, 60 + 3 * jobs * job_s / CAP)
        stats = st.sim.stats()
        requests = api_requests(stats)
    return {
        "jobs": jobs,
        "webhooks": stats["webhooks"] if with_webhooks else None,
        "job_s": job_s,
        "succeeded": sum(1 for job in rows.values() if job.status.value == "success"),
        "makespan_s": _span_s(rows),
        "floor_s": math.ceil(jobs / CAP) * job_s,
        "requests_per_job": requests / jobs,
    }


def makespan_rows(figures: dict[str, Any], hooked: dict[str, Any] | None = None) -> list[tuple[str, str, str]]:
    """The batch alone without webhooks and, when measured, the same batch with them on."""
    f = figures
    lines = [
        (
            f"makespan of {f['jobs']} jobs of {f['job_s']:g} s under a cap of {CAP} against the floor "
            f"({f['succeeded']} succeeded)",
            f"{f['makespan_s'] / f['floor_s']:.2f}x ({f['makespan_s']:.1f} s against {f['floor_s']:.1f} s)",
            "<= 1.10x",
        ),
        ("Scenario requests per job of that batch (webhooks off)", f"{f['requests_per_job']:.2f}", "<= 1.5"),
    ]
    if hooked is not None:
        h = hooked
        delivered = (h["webhooks"] or {}).get("delivered", 0)
        lines.append(
            (
                f"the same {h['jobs']} jobs with webhooks on ({h['succeeded']} succeeded, {delivered} hints delivered)",
                f"{h['makespan_s'] / h['floor_s']:.2f}x ({h['makespan_s']:.1f} s against {h['floor_s']:.1f} s; "
                f"{h['requests_per_job']:.2f} requests per job)",
                f"<= {WEBHOOK_GOAL:g}x",
            )
        )
    return lines


def plan_small_beside_big(
    workdir: Path, *, library: int, small: int, after_s: float, job_s: float, concurrency: int
) -> dict[str, Any]:
    """A small batch started `after_s` after a big library under the same cap: the small one's makespan.

    The run ends when the small batch is done; the rest of the library is left to the teardown,
    so a 1,000-item library costs its first minute, not its twelve.
    """
    from worker import runtime
    from worker.batches.submit import submit_batch

    with _plan_stack(workdir / "small-beside-big", job_s, concurrency) as st:
        _start_workers(st, concurrency)
        big = submit_batch(_manifest("plan-big-library", library))
        time.sleep(after_s)
        report = submit_batch(_manifest("plan-small-batch", small))
        ids = [job.id for job in runtime.current().batches.jobs(report.batch.id)]
        rows = _wait_final(ids, 60 + 4 * small * job_s)
        library_done = sum(1 for job in runtime.current().batches.jobs(big.batch.id) if job.is_final)
    return {
        "library": library,
        "small": small,
        "after_s": after_s,
        "job_s": job_s,
        "succeeded": sum(1 for job in rows.values() if job.status.value == "success"),
        "makespan_s": _span_s(rows),
        "floor_s": math.ceil(small / CAP) * job_s,
        "library_done": library_done,
    }


def small_beside_big_rows(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    f = figures
    return [
        (
            f"a {f['small']}-item batch started {f['after_s']:g} s after a {f['library']}-item library, "
            f"cap {CAP}, {f['job_s']:g}-s renders: its makespan against its own floor "
            f"({f['succeeded']} succeeded; {f['library_done']} library items done meanwhile)",
            f"{f['makespan_s'] / f['floor_s']:.2f}x ({f['makespan_s']:.1f} s against {f['floor_s']:.1f} s)",
            "<= 2x",
        ),
    ]
