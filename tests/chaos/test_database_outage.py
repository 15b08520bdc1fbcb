"""PostgreSQL refuses every connection for 90 s mid-run (a proxy between the workers and it closes them):
an outage, retried by elapsed time, that ends no job and spends no job's tries."""

from __future__ import annotations

import time

import pytest

from tests.chaos.conftest import chaos_system
from tests.harness import wait_until

OUTAGE_S = 90


@pytest.mark.timeout(360)
def test_postgres_refusing_connections_for_ninety_seconds_leaves_no_dead_letter_and_no_stuck_job(chaos_tmp):
    name, items = "database-outage", 60
    with chaos_system(chaos_tmp, through_proxy=True, sim={"job_duration_s": 4.0}) as chaos:
        out = chaos.submit(name, items, "a lacquered music box")
        wait_until(lambda: chaos.count(name, lambda j: j.scenario_job_id) >= 15, 60, "some submits")
        chaos.proxy.refuse()
        time.sleep(OUTAGE_S)
        chaos.proxy.allow()

        settled_s = chaos.settle(name, timeout_s=150)

        counts = chaos.check_the_books(name, items, out, settled_s=settled_s, scenario="postgres refused 90 s")
        assert chaos.proxy.refused > 0, "the workers tried the database during the outage"
        assert counts["succeeded"] == items and counts["dead_letters"] == 0
