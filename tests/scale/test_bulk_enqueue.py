"""Many jobs at once: checked first, recorded in bulk, published on one connection."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system
from tests.services import messages_ready, throwaway_postgres
from worker import enqueue_many, lanes
from worker.batches.manifest import parse_manifest
from worker.batches.submit import submit_batch
from worker.generation import GenerationRequest
from worker.simulator import SimulatorConfig
from worker.states import JobStatus

BATCH_ITEMS = 2_000


@pytest.fixture(scope="module")
def idle_system(redis_url, tmp_path_factory) -> Iterator[System]:
    """The simulator and PostgreSQL with no worker: what is queued stays in its lane to be counted."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=17)
    with (
        throwaway_postgres() as database_url,
        running_system(
            database_url=database_url,
            broker_url=redis_url,
            workdir=tmp_path_factory.mktemp("idle"),
            sim_config=config,
            workers=(),
        ) as system,
    ):
        yield system


def test_a_2000_item_batch_is_checked_claimed_recorded_and_queued_with_progress(idle_system):
    items = "".join(f"  - name: item-{n:05d}\n    prompt: a crate number {n}\n" for n in range(BATCH_ITEMS))
    text = f"batch: crates\ndefaults:\n  width: 256\n  height: 256\nitems:\n{items}"
    seen: list[tuple[int, int]] = []

    started = time.monotonic()
    manifest = parse_manifest(text, kind="yaml", source="crates.yaml")
    report = submit_batch(manifest, on_progress=lambda *progress: seen.append(progress))
    took_s = time.monotonic() - started

    print(f"\n{BATCH_ITEMS} items checked and queued in {took_s:.2f} s")
    assert len(report.queued) == BATCH_ITEMS
    assert messages_ready(idle_system.settings.broker_url, lanes.BATCH) == BATCH_ITEMS
    assert sum(idle_system.jobs.count_by_status(report.batch.id).values()) == BATCH_ITEMS
    assert seen[-1] == (BATCH_ITEMS, BATCH_ITEMS) and len(seen) == BATCH_ITEMS // 1_000


def test_a_bad_request_among_many_is_named_by_its_index_and_nothing_is_recorded(idle_system):
    before = sum(idle_system.jobs.count_by_status().values())
    requests = [{"prompt": "a fine lamp", "width": 256, "height": 256}] * 3 + [{"prompt": "a lamp", "width": 257}]

    with pytest.raises(ValueError, match=r"^requests\[3\]: .*width"):
        enqueue_many(requests)

    assert sum(idle_system.jobs.count_by_status().values()) == before


def test_many_requests_become_single_jobs_in_their_lane_in_order(idle_system):
    waiting = messages_ready(idle_system.settings.broker_url, lanes.SUBMIT)
    requests = [GenerationRequest(f"a lamp number {n}", width=256, height=256) for n in range(5)]

    ids = enqueue_many([*requests, {"prompt": "a last lamp", "model_id": "flux.1-dev", "width": 512}])

    jobs = idle_system.jobs.get_many(ids)
    assert [job.params["prompt"] for job in jobs] == [f"a lamp number {n}" for n in range(5)] + ["a last lamp"]
    assert {job.status for job in jobs} == {JobStatus.CREATED}
    assert all(job.batch_id is None and "seed" in job.params for job in jobs)
    assert messages_ready(idle_system.settings.broker_url, lanes.SUBMIT) == waiting + 6
