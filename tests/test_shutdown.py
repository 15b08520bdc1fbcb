"""A worker's warm shutdown: its pool processes wait a bounded time for their results to be read.

Workers stopped in turn while a canceled batch drains are in tests/chaos/test_stopped_while_draining.py."""

from __future__ import annotations

import billiard.pool
import pytest

from worker import shutdown


@pytest.mark.parametrize(
    ("wait_s", "interval_s", "tries"),
    [
        (2.0, 0.1, 20),  # the bound the workers use
        (0.05, 0.1, 1),  # a wait shorter than one interval still looks once
        (30.0, 0.1, 300),  # billiard's own
        (1.0, 0.3, 4),  # rounded up, never under the wait asked for
    ],
)
def test_the_handover_wait_is_counted_in_whole_looks(wait_s, interval_s, tries):
    assert shutdown.handover_tries(wait_s, interval_s) == tries


@pytest.mark.parametrize(("wait_s", "interval_s", "named"), [(0, 0.1, "wait_s"), (2.0, -1, "interval_s")])
def test_a_wait_or_interval_that_is_not_positive_is_refused_by_name(wait_s, interval_s, named):
    with pytest.raises(ValueError, match=named):
        shutdown.handover_tries(wait_s, interval_s)


def test_a_pool_process_waits_at_most_the_bound_for_its_results_to_be_read(monkeypatch):
    monkeypatch.setattr(billiard.pool, "GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT", 300)

    shutdown.bound_the_result_handover()

    assert shutdown.RESULT_HANDOVER_WAIT_S <= shutdown.result_handover_s() < shutdown.RESULT_HANDOVER_WAIT_S + 0.2
