"""Workers stopped in turn (SIGTERM) while a canceled batch drains: each exits within its grace period,
and what it held runs on its successor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system, wait_until
from tests.services import throwaway_broker, throwaway_postgres
from worker.batches.manifest import parse_manifest
from worker.batches.runs import batch_progress, cancel_batch, submit_batch
from worker.simulator import SimulatorConfig

# A worker exits within a second or two of SIGTERM; a pool process that waited for the main process
# to read results it no longer reads held it for 30 s.
GRACE_S = 15.0


@pytest.fixture
def quiet_system(redis_url, tmp_path) -> Iterator[System]:
    """The simulator, PostgreSQL and Redis as the broker and the fleet's state; no worker yet.

    The pool is the same on every broker; tests/chaos/test_rolling_restart.py restarts on RabbitMQ too.
    """
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=11)
    with (
        throwaway_postgres() as database_url,
        throwaway_broker("redis", redis_url) as broker_url,
        running_system(
            database_url=database_url,
            broker_url=broker_url,
            redis_url=redis_url,
            workdir=tmp_path / "workers",
            sim_config=config,
            workers=(),
        ) as system,
    ):
        yield system


# Workers stopped in turn while the canceled items' submits drain, a few milliseconds each.
STOPS = 3
ITEMS = 600


@pytest.mark.timeout(240)
def test_workers_stopped_in_turn_while_a_canceled_batch_drains_each_exit_in_their_grace_and_every_item_ends(
    quiet_system,
):
    system = quiet_system
    prompt = "a lantern stopped mid-batch"
    items = "".join(f"  - name: lantern-{n:04d}\n    prompt: {prompt} {n}\n" for n in range(ITEMS))
    name = f"stopped-{uuid.uuid4().hex[:8]}"
    submit_batch(parse_manifest(f"batch: {name}\ndefaults:\n  width: 64\n  height: 64\nitems:\n{items}", kind="yaml"))
    worker = system.start_worker(name="w0", concurrency=2)
    wait_until(lambda: sum(1 for j in system.batch_jobs(name) if j.scenario_job_id) >= 20, 60, "20 items to be sent")
    # The cancel turns every submit still queued into a task of a few milliseconds: the busiest
    # stream of results a pool process can hand back while its worker is told to stop.
    cancel_batch(name)

    late = []
    for n in range(1, STOPS + 1):
        worker.terminate()
        if not worker.exited_within(GRACE_S):
            late.append(worker.tail(5))
            worker.kill()
        worker = system.start_worker(name=f"w{n}", concurrency=2)
    wait_until(lambda: all(j.is_final for j in system.batch_jobs(name)), 90, "every item to end")

    jobs = system.batch_jobs(name)
    stats = system.sim.stats()
    counts = batch_progress(name).counts
    print(f"\n{STOPS} stops while draining: {len(late)} late, {counts}, {stats['jobs_created']} made")
    assert late == [], f"workers did not exit within {GRACE_S:g} s of SIGTERM:\n" + "\n".join(late)
    assert len(jobs) == ITEMS
    assert stats["duplicate_submissions"] == 0
    assert stats["jobs_created"] == sum(1 for j in jobs if j.scenario_job_id)  # each made once, each held
    assert all(system.dead_letters.get_for_job(j.id) is None for j in jobs)
