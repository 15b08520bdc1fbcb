"""Two workers, one request budget: the fleet stays under Scenario's rate limit and pauses together on a 429."""

from __future__ import annotations

import hashlib
import re
import time

from tests.batches.conftest import FLEET_BUDGET_PER_S, SIM_RATE_PER_S
from tests.batches.test_batch_runs import wait_for_batch, write_manifest
from tests.harness import wait_until
from worker import runtime
from worker.batches.manifest import load_manifest
from worker.batches.runs import batch_progress, submit_batch

SUBMITTED = re.compile(r"\bsubmitted job_id=")
# The fleet's limiter lets this many requests go at once before it holds to its rate.
FLEET_BURST = FLEET_BUDGET_PER_S
# Requests that took their slot just before the pause was shared may still be on their way.
IN_TRANSIT_GRACE_S = 0.3


def api_requests(stats: dict) -> int:
    """Every request that counts against the API key's budget (asset downloads do not)."""
    return sum(sum(by_status.values()) for endpoint, by_status in stats["requests"].items() if endpoint != "download")


def submits_logged(system) -> list[int]:
    return [len(SUBMITTED.findall(w.log_path.read_text(errors="replace"))) for w in system.workers]


def test_two_workers_share_one_budget_and_never_meet_the_simulators_rate_limit(limited_system, tmp_path):
    sim = limited_system.sim
    sim.reset_stats()
    manifest = load_manifest(write_manifest(tmp_path / "fleet.yaml", "fleet-budget", 40, prompt="a budgeted banner"))

    started = time.time()
    report = submit_batch(manifest)
    progress = wait_for_batch("fleet-budget", timeout_s=50)
    stats = sim.stats()
    elapsed_s = time.time() - started

    assert len(report.queued) == 40 and progress.succeeded == 40
    # With no fault injected, any 429 would be the simulator's token bucket.
    assert stats["rate_limited"] == []
    assert all("429" not in by_status for by_status in stats["requests"].values())
    assert stats["jobs_created"] == 40 and stats["duplicate_submissions"] == 0
    assert all(stats["submissions_by_prompt"][f"a budgeted banner number {n}"] == 1 for n in range(40))
    per_worker = submits_logged(limited_system)
    assert sum(per_worker) == 40 and all(count > 0 for count in per_worker), per_worker
    sent = api_requests(stats)
    # The shared budget allows a burst and then its rate, whichever worker asks.
    assert sent <= FLEET_BURST + FLEET_BUDGET_PER_S * elapsed_s, (sent, elapsed_s)
    assert sent / elapsed_s <= SIM_RATE_PER_S, (sent, elapsed_s)


def test_a_429_to_one_submit_holds_back_every_workers_requests_until_retry_after(limited_system, tmp_path):
    sim = limited_system.sim
    sim.reset_stats()
    prompt = "a held lantern"
    target = f"{prompt} number 6"
    # Long jobs keep the sweep and the other submits busy while the fleet is paused.
    sim.faults.job_duration(prompt_contains=prompt, seconds=4)
    sim.faults.add_rule(endpoint="submit", prompt_contains=target, status=429, retry_after="2", times=1)
    limiter = runtime.current().limiter
    manifest = load_manifest(write_manifest(tmp_path / "lanterns.yaml", "held-lanterns", 16, prompt=prompt))

    submit_batch(manifest)
    wait_until(lambda: limiter.paused_for() > 0, 20, "a worker to share the pause after the 429", every_s=0.01)
    time.sleep(IN_TRANSIT_GRACE_S)
    held_at = sim.stats()["requests_total"]
    during = batch_progress("held-lanterns")
    counts_while_paused = []
    while limiter.paused_for() > 0.1:
        counts_while_paused.append(sim.stats()["requests_total"])
        time.sleep(0.05)
    progress = wait_for_batch("held-lanterns", timeout_s=40)
    stats = sim.stats()

    [refused] = stats["rate_limited"]
    assert refused["endpoint"] == "submit" and refused["retry_after_s"] == 2.0
    assert refused["request_key"].endswith(hashlib.sha256(target.encode()).hexdigest()[:16])
    assert during.finished < during.items  # work was waiting to be done all through the pause
    assert len(counts_while_paused) > 10
    assert set(counts_while_paused) == {held_at}, "a worker sent a request while the fleet was paused"
    target_jobs = [j for j in limited_system.batch_jobs("held-lanterns") if j.params.get("prompt") == target]
    assert refused["retried_at"] is not None, (target_jobs, stats)
    assert refused["retried_at"] - refused["at"] >= 2.0
    assert stats["requests_total"] > held_at
    assert progress.succeeded == 16
    assert stats["jobs_created"] == 16 and stats["duplicate_submissions"] == 0
