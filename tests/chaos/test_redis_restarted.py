"""The Redis that holds the broker and the fleet's state goes away mid-run: a 10 s blip that keeps its
data, and a restart that finds it empty (every queued message and lease gone)."""

from __future__ import annotations

import time

import pytest

from tests.chaos.conftest import chaos_system
from tests.harness import wait_until


@pytest.mark.timeout(300)
def test_a_ten_second_redis_blip_leaves_no_dead_letter_and_no_stuck_job(chaos_tmp):
    name, items = "redis-blip", 60
    with chaos_system(chaos_tmp, keep_redis_data=True) as chaos:
        out = chaos.submit(name, items, "a moss-covered anvil")
        wait_until(lambda: chaos.count(name, lambda j: j.scenario_job_id) >= 15, 60, "some submits")
        chaos.redis.kill()
        time.sleep(10)
        chaos.redis.start()

        settled_s = chaos.settle(name, timeout_s=150)

        counts = chaos.check_the_books(name, items, out, settled_s=settled_s, scenario="redis down 10 s")
        assert counts["succeeded"] == items and counts["dead_letters"] == 0


@pytest.mark.timeout(300)
def test_a_redis_restarted_empty_loses_no_job_the_recovery_sends_them_all_again(chaos_tmp):
    name, items = "redis-empty", 60
    with chaos_system(chaos_tmp, keep_redis_data=False) as chaos:
        out = chaos.submit(name, items, "a driftwood totem")
        wait_until(lambda: chaos.count(name, lambda j: j.scenario_job_id) >= 15, 60, "some submits")
        chaos.redis.kill()
        chaos.redis.start()

        settled_s = chaos.settle(name, timeout_s=150)

        counts = chaos.check_the_books(name, items, out, settled_s=settled_s, scenario="redis restarted empty")
        assert counts["succeeded"] == items and counts["dead_letters"] == 0
