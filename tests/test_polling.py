from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from worker.polling import (
    PollOutcome,
    group_pending_s,
    group_window_s,
    is_late,
    list_is_due,
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


def test_a_sweep_that_finds_a_job_late_lists_the_rarer_ends_too():
    assert tuple(status.value for status in statuses_to_list(1, late=True)) == ("success", "failure", "canceled")


def _at(seconds: list[float | None]) -> list[datetime | None]:
    return [None if s is None else T0 + timedelta(seconds=s) for s in seconds]


@pytest.mark.parametrize(
    ("ends_in_s", "interval_s", "window_s", "new_end_in_s", "expected_s"),
    [
        ([], 2.0, 0.0, None, 2.0),  # nothing in flight: the usual beat
        ([None], 2.0, 0.0, None, 2.0),  # an end not known yet: the beat
        ([1.0, 5.0], 2.0, 0.0, None, 1.05),  # just after the first expected end
        ([1.0, 1.3, 5.0], 2.0, 0.4, None, 1.35),  # ends close together: one look after the last of them
        ([1.0, 1.5], 2.0, 0.4, None, 1.05),  # too far apart: each its own look
        ([3.0], 2.0, 0.0, None, 3.05),  # every end known: past the beat, to the end
        ([9.0], 2.0, 0.0, None, 4.0),  # but never more than a few beats without a list
        ([3.0, None], 2.0, 0.0, None, 2.0),  # an unknown end keeps the beat
        ([0.1], 2.0, 0.0, None, 0.25),  # never sooner than the floor
        ([-0.2, 3.0], 2.0, 0.0, None, 0.25),  # just late: looked at closely
        ([-1.5, 3.0], 2.0, 0.0, None, 2.0),  # late for long: back to the beat, not a tight loop
        ([], 2.0, 0.0, 3.0, 3.05),  # a submit on its way: when its job ends if sent now
        ([1.0], 2.0, 0.4, 3.0, 1.05),
        ([2.8, 2.9], 2.0, 0.4, 3.0, 3.05),  # it ends with the others: one look for them all
        ([0.1], 0.2, 0.0, None, 0.2),  # a beat shorter than the floor wins
    ],
)
def test_the_next_sweep_comes_just_after_the_first_expected_ends(
    ends_in_s, interval_s, window_s, new_end_in_s, expected_s
):
    new_end = None if new_end_in_s is None else T0 + timedelta(seconds=new_end_in_s)
    in_s = next_sweep_in_s(T0, _at(ends_in_s), interval_s=interval_s, window_s=window_s, new_end=new_end)
    assert in_s == pytest.approx(expected_s)


@pytest.mark.parametrize(
    ("ends_in_s", "unknown_step_s", "expected_s"),
    [
        ([None], 1.0, 1.0),  # a model's first renders: looked for at the poll's pace
        ([None], 5.0, 2.0),  # never past the beat
        ([None, 0.5], 1.0, 0.55),  # a known end sooner still comes first
        ([3.0], 1.0, 3.05),  # every end known: the step does not apply
    ],
)
def test_ends_nobody_can_foresee_yet_are_looked_for_at_the_poll_s_pace(ends_in_s, unknown_step_s, expected_s):
    in_s = next_sweep_in_s(T0, _at(ends_in_s), interval_s=2.0, unknown_step_s=unknown_step_s)
    assert in_s == pytest.approx(expected_s)


@pytest.mark.parametrize(
    ("ends_in_s", "window_s", "hold_s"),
    [
        ([-0.1, 0.1], 0.75, 0.15),  # the rest of the group is about to end: one list for all
        ([-0.1, -0.05, 0.2, 0.3], 0.75, 0.35),  # the last of the group sets the wait
        ([-0.1, 0.7], 0.75, None),  # past the group's window: its own list later
        ([-0.9, 0.1], 0.75, None),  # the window has closed: list now
        ([-0.1, -0.05], 0.75, None),  # all due: list now
        ([0.1, 0.2], 0.75, None),  # nothing due: not a hold (the sweep is early)
        ([-0.1, None, 3.0], 0.75, None),  # unknown and far ends do not hold it
    ],
)
def test_a_sweep_holds_its_list_for_the_rest_of_the_group_of_the_first_end_due(ends_in_s, window_s, hold_s):
    held = group_pending_s(T0, _at(ends_in_s), window_s=window_s)
    assert held == (None if hold_s is None else pytest.approx(hold_s))


@pytest.mark.parametrize(
    ("ends_in_s", "listed_s_ago", "due"),
    [
        ([1.0], 0.5, False),  # woken early for a submit on its way: nothing to ask yet
        ([0.0], 0.5, True),  # an end is due
        ([-0.1, 2.0], 0.5, True),
        ([2.0, None], 0.5, True),  # an end nobody can foresee
        ([2.0], 4.0, True),  # the quiet gap has passed
        ([2.0], None, True),  # never listed
    ],
)
def test_a_sweep_calls_the_list_only_when_an_end_is_due_or_unknown_or_the_quiet_gap_passed(
    ends_in_s, listed_s_ago, due
):
    assert list_is_due(T0, _at(ends_in_s), listed_s_ago=listed_s_ago, interval_s=2.0) is due


@pytest.mark.parametrize(
    ("ends_in_s", "late"),
    [
        ([1.0], False),
        ([-0.1], False),  # the look that ends it is just coming
        ([-0.5], False),  # still looked at closely
        ([-1.0], True),  # the close looks missed it
        ([None, -0.05], False),
    ],
)
def test_a_job_is_late_once_a_look_after_its_expected_end_has_missed_it(ends_in_s, late):
    assert is_late(T0, _at(ends_in_s)) is late


@pytest.mark.parametrize(
    ("render_s", "window_s"),
    [([], 0.0), ([3.0], 0.75), ([3.0, 1.0], 0.25), ([60.0], 1.0)],
)
def test_ends_are_grouped_within_a_share_of_the_shortest_render_and_never_more_than_the_cap(render_s, window_s):
    assert group_window_s(render_s) == pytest.approx(window_s)
