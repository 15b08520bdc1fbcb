"""During a batch, `/metrics` of a worker and of the console show the job transitions, Scenario's
answers by status and the slots in use, and the numbers agree with the database and the simulator."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import KEY, ON_POSTGRES, SECRET
from tests.harness import ROOT, System, end_process, free_port, running_system, wait_until
from tests.metrics.scrape import names, scrape, total
from tests.services import port_open
from worker import lanes, runtime
from worker.batches.manifest import parse_manifest
from worker.batches.submit import submit_batch
from worker.observe import metrics
from worker.simulator import SimulatorConfig
from worker.states import JobStatus

pytestmark = ON_POSTGRES

CAP = 2
ITEMS = 8
SUBMIT_ROUTE = "POST /generate/custom/{modelId}"
SCRIPT = str(ROOT / ".venv" / "bin" / "scenario-worker")


@dataclass
class Watched:
    system: System
    worker_url: str
    console_url: str


@pytest.fixture(scope="module")
def watched(backend_url, redis_url, tmp_path_factory) -> Iterator[Watched]:
    """One worker of two processes serving metrics, and the console, counting into one directory."""
    # This process counts in memory: its first import of prometheus_client comes before the directory is named.
    metrics.ensure_registered()
    workdir = tmp_path_factory.mktemp("metrics")
    shared_dir = workdir / "prometheus"
    shared_dir.mkdir()
    worker_port, console_port = free_port(), free_port()
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=17)
    env = {
        "SCENARIO_METRICS_PORT": str(worker_port),
        "PROMETHEUS_MULTIPROC_DIR": str(shared_dir),
        "SCENARIO_PARALLEL_JOBS": str(CAP),
        "SCENARIO_VISIBILITY_TIMEOUT_S": "30",
        "SCENARIO_SLOT_LEASE_S": "12",
        "SCENARIO_LOG_LEVEL": "INFO",
    }
    with running_system(
        database_url=backend_url, broker_url=redis_url, workdir=workdir, sim_config=config, **env
    ) as system:
        log_path = workdir / "console.log"
        console_env = {**os.environ, **system.env, "CONSOLE_DEV_MODE": "true"}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [SCRIPT, "console", "--host", "127.0.0.1", "--port", str(console_port)],
                env=console_env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(
                lambda: proc.poll() is not None or port_open("127.0.0.1", console_port),
                20,
                "the console to listen",
                on_timeout=log_path.read_text,
            )
            assert proc.poll() is None, log_path.read_text()
            yield Watched(system, f"http://127.0.0.1:{worker_port}/metrics", f"http://127.0.0.1:{console_port}/metrics")
        finally:
            end_process(proc)


def test_a_batch_is_counted_the_same_by_the_worker_the_console_the_database_and_scenario(watched):
    system = watched.system
    # Two submits answered 503: retried, and counted by their status.
    system.sim.faults.add_rule(endpoint="submit", prompt_contains="metered crate number 3", status=503, times=2)
    items = "".join(f"  - name: crate-{n}\n    prompt: a metered crate number {n}\n" for n in range(ITEMS))
    submit_batch(parse_manifest(f"batch: crates\ndefaults:\n  width: 256\n  height: 256\nitems:\n{items}", kind="yaml"))

    in_use_seen: list[float] = []

    def batch_done() -> bool:
        samples = scrape(watched.worker_url)
        in_use_seen.append(total(samples, "scenario_slots_in_use"))
        assert total(samples, "scenario_slots_cap") == CAP
        jobs = system.batch_jobs("crates")
        return len(jobs) == ITEMS and all(job.status.is_final for job in jobs)

    wait_until(batch_done, 90, "the batch to finish", every_s=0.2)
    jobs = system.batch_jobs("crates")
    answered = system.sim.stats()["requests"]
    worker, console = scrape(watched.worker_url), scrape(watched.console_url)

    assert [job.status for job in jobs] == [JobStatus.SUCCESS] * ITEMS
    assert max(in_use_seen) >= 1 and max(in_use_seen) <= CAP
    for samples in (worker, console):
        assert total(samples, "scenario_job_transitions_total", status="success", lane=lanes.BATCH) == ITEMS
        assert total(samples, "scenario_requests_total", route=SUBMIT_ROUTE, status="200") == ITEMS
        assert total(samples, "scenario_requests_total", route=SUBMIT_ROUTE, status="503") == 2
        for endpoint, route in (("submit", SUBMIT_ROUTE), ("get_job", "GET /jobs/{jobId}"), ("list_jobs", "GET /jobs")):
            for status, count in answered.get(endpoint, {}).items():
                assert total(samples, "scenario_requests_total", route=route, status=status) == count, (route, status)
        assert total(samples, "scenario_retries_total", reason="server_error") == 2
        assert total(samples, "scenario_creative_units_spent_total") == pytest.approx(sum(j.cu_cost for j in jobs))
        assert total(samples, "scenario_submit_seconds_count") == ITEMS
        assert total(samples, "scenario_status_lag_seconds_count") == ITEMS
        assert total(samples, "scenario_slots_in_use") == runtime.current().slots.in_use() == 0
        assert total(samples, "scenario_dead_letters_total") == 0
        assert total(samples, "scenario_queue_oldest_age_seconds", lane=lanes.BATCH) == 0
        assert "scenario_queue_depth" in names(samples)
        assert total(samples, "scenario_fleet_paused") == 0
