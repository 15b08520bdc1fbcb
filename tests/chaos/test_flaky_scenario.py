"""Scenario answers 20% of requests with a 500, 10% with a 429, and drops 5% of connections."""

from __future__ import annotations

import pytest

from tests.chaos.conftest import chaos_system


@pytest.mark.timeout(300)
def test_a_flaky_scenario_pays_each_item_once_and_is_never_retried_before_retry_after(chaos_tmp):
    name, items = "flaky-scenario", 60
    with chaos_system(chaos_tmp, sim={"job_duration_s": 2.0, "retry_after_s": 1.0}) as chaos:
        sim = chaos.system.sim
        out = chaos.submit(name, items, "a brass astrolabe")
        sim.faults.set_rates(rate_500=0.2, rate_429=0.1, rate_drop=0.05)

        settled_s = chaos.settle(name, timeout_s=200)
        sim.faults.set_rates(rate_500=0.0, rate_429=0.0, rate_drop=0.0)

        counts = chaos.check_the_books(name, items, out, settled_s=settled_s, scenario="flaky scenario")
        stats = sim.stats()
        assert counts["rate_limited"] > 0 and sum(by.get("500", 0) for by in stats["requests"].values()) > 0
        # Every item was retried through the faults, and none gave up for them.
        assert counts["succeeded"] == items and counts["dead_letters"] == 0
