"""Scenario stops answering for minutes (a load balancer's 503 page) while a hundred jobs run."""

from __future__ import annotations

import os
import time

import pytest

from tests.chaos.conftest import chaos_system
from tests.harness import wait_until
from worker import enqueue_generation
from worker.states import JobStatus

JOBS = 100
# Three minutes here; CHAOS_OUTAGE_S=900 gives the quarter of an hour an operator may meet.
OUTAGE_S = float(os.environ.get("CHAOS_OUTAGE_S", "180"))
# The whole fleet's requests while Scenario is down, on average.
MOST_PER_S = 2.0
# Requests already out when it went down, and the failures in a row that open the breaker.
FIRST_FAILURES = 20
AN_HTML_PAGE = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


@pytest.mark.timeout(OUTAGE_S + 300)
def test_a_long_outage_is_ridden_out_with_a_trickle_of_probes_and_nothing_lost_or_paid_twice(chaos_tmp):
    with chaos_system(chaos_tmp, sim={"job_duration_s": 20.0}) as chaos:
        sim = chaos.system.sim
        prompt = "a lighthouse in a storm"
        ids = [enqueue_generation(f"{prompt} #{n}", width=64, height=64) for n in range(JOBS)]
        jobs = chaos.system.jobs
        wait_until(lambda: all(j.scenario_job_id for j in jobs.get_many(ids)), 120, "every job to be on Scenario")

        before = sim.stats()["requests_total"]
        sim.faults.add_rule(endpoint="*", status=503, body=AN_HTML_PAGE)
        time.sleep(OUTAGE_S)
        during = sim.stats()["requests_total"] - before
        sim.faults.clear()
        back = time.monotonic()
        wait_until(lambda: all(j.is_final for j in jobs.get_many(ids)), 120, "every job to end after the outage")
        settled_s = time.monotonic() - back

        final = jobs.get_many(ids)
        stats = sim.stats()
        dead = chaos.system.dead_letters.list(limit=10_000)
        print(
            f"\n[chaos] Scenario down {OUTAGE_S:g} s with {JOBS} jobs running: {during} requests meanwhile "
            f"({during / OUTAGE_S:.2f} a second), all final {settled_s:.1f} s after it came back, "
            f"{len(dead)} dead letters, {stats['jobs_created']} Scenario jobs made"
        )
        assert [j.status for j in final] == [JobStatus.SUCCESS] * JOBS
        assert dead == []
        assert stats["jobs_created"] == JOBS and stats["duplicate_submissions"] == 0
        assert during <= FIRST_FAILURES + MOST_PER_S * OUTAGE_S
