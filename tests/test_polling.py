from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from worker.polling import (
    PollOutcome,
    next_poll_delay_s,
    next_sweep_in_s,
    plan_next_poll,
    render_seconds,
    statuses_to_list,
)
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


# --- The sweep's timing and what it lists --------------------------------------------------

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("number", "listed"),
    [
        (1, ("success",)),
        (2, ("success",)),
        (3, ("success", "failure", "canceled")),
        (4, ("success",)),
        (6, ("success", "failure", "canceled")),
    ],
)
def test_successes_are_listed_every_sweep_and_the_rarer_ends_every_few(number, listed):
    assert tuple(status.value for status in statuses_to_list(number)) == listed


@pytest.mark.parametrize(
    ("history", "seconds"),
    [
        (
            [
                {"status": "queued", "date": "2026-12-02T12:00:00Z"},
                {"status": "success", "date": "2026-12-02T12:00:03Z"},
            ],
            3.0,
        ),
        (
            [
                {"status": "queued", "date": "2026-12-02T12:00:00.500Z"},
                {"status": "in-progress", "date": "2026-12-02T12:00:01Z"},
                {"status": "success", "date": "2026-12-02T12:00:04Z"},
            ],
            3.5,
        ),
        ([{"status": "queued", "date": "2026-12-02T12:00:00Z"}], None),
        ([], None),
        ([{"status": "success", "date": "not a date"}], None),
    ],
)
def test_a_render_time_is_read_from_scenario_s_status_history(history, seconds):
    assert render_seconds(history) == seconds


@pytest.mark.parametrize(
    ("ends_in_s", "interval_s", "expected_s"),
    [
        ([], 2.0, 2.0),  # nothing known: the usual beat
        ([1.0, 5.0], 2.0, 1.15),  # the first end comes before the beat: just after it
        ([0.1], 2.0, 0.5),  # never sooner than the floor
        ([3.0], 2.0, 2.0),  # after the beat: the beat
        ([-1.0], 2.0, 2.0),  # overdue: the beat, not a tight loop
        ([-1.0, 1.0], 2.0, 1.15),
        ([0.1], 0.3, 0.3),  # a beat shorter than the floor wins
    ],
)
def test_the_next_sweep_comes_at_the_first_expected_end_when_that_is_before_the_interval(
    ends_in_s, interval_s, expected_s
):
    ends = [T0 + timedelta(seconds=s) for s in ends_in_s]
    assert next_sweep_in_s(T0, ends, interval_s=interval_s) == pytest.approx(expected_s)
