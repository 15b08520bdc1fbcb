from __future__ import annotations

import pytest

from worker.polling import PollOutcome, next_poll_delay_s, plan_next_poll
from worker.states import JobStatus

KNOBS = dict(initial_s=1.0, growth=1.5, max_s=30.0)


@pytest.mark.parametrize(
    ("elapsed_s", "progress", "expected_s"),
    [
        (0.0, None, 1.0),  # quick at first
        (1.0, None, 1.0),
        (10.0, None, 5.0),  # a share of the time already spent
        (40.0, None, 20.0),
        (100.0, None, 30.0),  # capped
        (1000.0, None, 30.0),
        (10.0, 0.5, 5.0),  # half done after 10 s: about 10 s left, the share is smaller
        (20.0, 0.9, 2.2222222222222223),  # nearly done: look again soon
        (20.0, 0.01, 10.0),  # progress too small to trust
        (-5.0, None, 1.0),  # a clock that moved back
    ],
)
def test_the_next_poll_comes_sooner_for_young_jobs_and_later_for_old_ones(elapsed_s, progress, expected_s):
    assert next_poll_delay_s(elapsed_s, progress=progress, **KNOBS) == pytest.approx(expected_s)


@pytest.mark.parametrize(
    ("status", "elapsed_s", "deadline_s", "outcome", "delay_s"),
    [
        (JobStatus.SUCCESS, 5.0, 60.0, PollOutcome.FINISHED, 0.0),
        (JobStatus.FAILURE, 5.0, 60.0, PollOutcome.FINISHED, 0.0),
        (JobStatus.CANCELED, 500.0, 60.0, PollOutcome.FINISHED, 0.0),  # final beats the deadline
        (JobStatus.IN_PROGRESS, 10.0, 60.0, PollOutcome.AGAIN, 5.0),
        (None, 10.0, 60.0, PollOutcome.AGAIN, 5.0),  # an unknown status is never final
        (JobStatus.QUEUED, 60.0, 60.0, PollOutcome.DEADLINE, 0.0),
        (JobStatus.IN_PROGRESS, 58.0, 60.0, PollOutcome.AGAIN, 2.0),  # the last look lands on the deadline
    ],
)
def test_a_poll_ends_the_job_waits_again_or_gives_up_at_the_deadline(status, elapsed_s, deadline_s, outcome, delay_s):
    plan = plan_next_poll(status, elapsed_s=elapsed_s, deadline_s=deadline_s, **KNOBS)
    assert plan.outcome is outcome
    assert plan.delay_s == pytest.approx(delay_s)
