from __future__ import annotations

import pytest

from worker.states import JobStatus


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (JobStatus.CREATED, False),
        (JobStatus.QUEUED, False),
        (JobStatus.WARMING_UP, False),
        (JobStatus.IN_PROGRESS, False),
        (JobStatus.FINALIZING, False),
        (JobStatus.SUCCESS, True),
        (JobStatus.FAILURE, True),
        (JobStatus.CANCELED, True),
        (JobStatus.DEAD, True),
    ],
)
def test_only_success_failure_canceled_and_dead_are_final(status, final):
    assert status.is_final is final


@pytest.mark.parametrize(
    ("text", "member"),
    [
        ("in-progress", JobStatus.IN_PROGRESS),
        ("success", JobStatus.SUCCESS),
        ("teleporting", None),
        ("dead", None),
        ("created", None),
    ],
)
def test_scenarios_statuses_map_to_members_and_unknown_ones_to_none(text, member):
    assert JobStatus.from_scenario(text) is member
