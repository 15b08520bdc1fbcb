"""A worker SIGKILLed mid-run, then started again: what it held comes back through the recovery alone
(the broker's visibility timeout is an hour), all within a minute plus render time."""

from __future__ import annotations

import pytest

from tests.chaos.conftest import chaos_system
from tests.harness import wait_until

RENDER_S = 2.0
# The recovery's own promise (worker/waits.py: stalled_after + recovery interval <= 60 s), then
# the render, the sweep's look and the download.
SETTLE_WITHIN_S = 60 + RENDER_S + 10


@pytest.mark.timeout(300)
def test_a_worker_killed_during_submits_has_every_job_final_within_a_minute_of_its_restart(chaos_tmp):
    name, items = "killed-during-submits", 60
    with chaos_system(chaos_tmp, workers=("w1",), sim={"job_duration_s": RENDER_S}) as chaos:
        out = chaos.submit(name, items, "a copper lantern")
        wait_until(lambda: chaos.count(name, lambda j: j.scenario_job_id) >= 6, 60, "a few submits")
        chaos.system.workers[0].kill()
        chaos.system.start_worker(name="w1-again", concurrency=3)

        settled_s = chaos.settle(name, timeout_s=SETTLE_WITHIN_S + 30)

        counts = chaos.check_the_books(name, items, out, settled_s=settled_s, scenario="worker killed during submits")
        assert counts["succeeded"] == items and counts["dead_letters"] == 0
        assert settled_s <= SETTLE_WITHIN_S


@pytest.mark.timeout(300)
def test_a_worker_killed_while_its_jobs_render_has_every_job_final_within_a_minute_of_its_restart(chaos_tmp):
    name, items = "killed-during-polls", 40
    render_s = 8.0
    with chaos_system(chaos_tmp, workers=("w1",), sim={"job_duration_s": render_s}) as chaos:
        out = chaos.submit(name, items, "a glass beetle")
        wait_until(lambda: chaos.count(name, lambda j: j.scenario_job_id) == items, 60, "every submit")
        chaos.system.workers[0].kill()
        chaos.system.start_worker(name="w1-again", concurrency=3)

        settled_s = chaos.settle(name, timeout_s=60 + render_s + 40)

        counts = chaos.check_the_books(name, items, out, settled_s=settled_s, scenario="worker killed during polls")
        assert counts["succeeded"] == items and counts["dead_letters"] == 0
        assert settled_s <= 60 + render_s + 10
