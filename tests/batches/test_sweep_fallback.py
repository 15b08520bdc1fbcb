"""When the jobs list call fails, batch jobs are still watched, one by one."""

from __future__ import annotations

from pathlib import Path

from tests.batches.test_batch_runs import wait_for_batch, write_manifest
from tests.conftest import ON_POSTGRES
from worker.batches.manifest import load_manifest
from worker.batches.runs import submit_batch

pytestmark = ON_POSTGRES


def test_a_batch_finishes_when_every_jobs_list_call_fails(system, tmp_path: Path):
    system.sim.faults.add_rule(endpoint="list_jobs", status=500, times=None)
    before = system.sim.stats()["requests"].get("get_job", {}).get("200", 0)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", "listless", 5, prompt="an unlisted banner"))

    submit_batch(manifest)
    progress = wait_for_batch("listless", timeout_s=60)

    assert progress.succeeded == 5
    stats = system.sim.stats()
    assert stats["requests"]["list_jobs"].get("500", 0) >= 1  # the sweep did try the list
    assert stats["requests"]["get_job"]["200"] - before >= 5  # and then looked at each job itself
