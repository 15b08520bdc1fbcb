"""Job lists the service accepts: with its list rule enforced, the sweep and the lost-answer search still work."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.batches.test_batch_runs import SCRIPT, wait_for_batch, write_manifest
from tests.conftest import KEY, SECRET
from tests.harness import System, running_system
from tests.services import throwaway_postgres
from worker import enqueue_generation
from worker.batches.manifest import load_manifest
from worker.batches.runs import batch_progress, submit_batch
from worker.simulator import SimulatorConfig
from worker.states import JobStatus

ITEMS = 300
# The API's own endpoints; downloads come from signed URLs outside the request budget.
API_ENDPOINTS = ("submit", "get_job", "list_jobs", "cancel", "get_asset", "get_assets_bulk", "get_model")


@pytest.fixture(scope="module")
def strict_system(redis_url, tmp_path_factory) -> Iterator[System]:
    """A simulator that refuses `updatedAfter` without a status filter, PostgreSQL and two workers."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=2.0, seed=5, strict_list_filters=True)
    with (
        throwaway_postgres() as database_url,
        running_system(
            database_url=database_url,
            broker_url=redis_url,
            workdir=tmp_path_factory.mktemp("strict"),
            sim_config=config,
            workers=("strict-a", "strict-b"),
            # Production-like watching: a sweep every 2 s, a job looked at alone only after 30 s unseen.
            SCENARIO_SWEEP_INTERVAL_S="2",
            SCENARIO_SWEEP_STALE_AFTER_S="30",
            SCENARIO_VISIBILITY_TIMEOUT_S="120",
            SCENARIO_MAX_RETRIES="8",
        ) as system,
    ):
        yield system


def api_requests(system: System) -> int:
    requests = system.sim.stats()["requests"]
    return sum(sum(requests.get(endpoint, {}).values()) for endpoint in API_ENDPOINTS)


def test_the_batched_sweep_finishes_300_items_at_no_more_than_one_and_a_half_requests_each(strict_system, tmp_path):
    before = api_requests(strict_system)
    manifest = load_manifest(write_manifest(tmp_path / "strict.yaml", "strict-300", ITEMS, prompt="a rune stone"))

    submit_batch(manifest)
    progress = wait_for_batch("strict-300", timeout_s=110)

    spent = api_requests(strict_system) - before
    refused = strict_system.sim.stats()["requests"].get("list_jobs", {}).get("400", 0)
    print(f"\n{ITEMS} items: {spent} API requests, {spent / ITEMS:.2f} per job, {refused} list calls refused")
    assert progress.succeeded == ITEMS
    assert refused == 0
    assert spent / ITEMS <= 1.5


def test_a_submit_whose_answer_was_lost_is_found_by_its_seed_and_adopted_not_paid_twice(strict_system):
    prompt = "a lantern whose answer is lost"
    strict_system.sim.faults.add_rule(
        endpoint="submit", prompt_contains=prompt, action="respond_after", status=500, times=1
    )

    job = strict_system.wait_for(enqueue_generation(prompt, seed=12345), timeout_s=60)

    stats = strict_system.sim.stats()
    assert job.status is JobStatus.SUCCESS
    assert stats["submissions_by_prompt"][prompt] == 1
    assert stats["duplicate_submissions"] == 0


def test_batch_status_json_reports_the_creative_units_scenario_billed(strict_system):
    billing = strict_system.sim.stats()["billing"]
    shown = subprocess.run(
        [SCRIPT, "batch", "status", "strict-300", "--json"],
        env={**os.environ, **strict_system.env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert shown.returncode == 0, shown.stderr
    spent = json.loads(shown.stdout)["cu_spent"]
    # Only this module's jobs ran on this simulator; the single job above is outside the batch.
    singles = sum(job.cu_spent for job in strict_system.jobs.list(limit=1000) if job.batch_id is None and job.cu_cost)
    assert spent > 0
    assert spent + singles == pytest.approx(billing["net"])
    assert spent == pytest.approx(batch_progress("strict-300").cu_spent)
