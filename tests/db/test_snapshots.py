from __future__ import annotations

from datetime import datetime, timezone

import pytest

from worker.db.snapshots import FAILED_WITHOUT_REASON, failure_error, snapshot_values
from worker.states import JobStatus

NOW = datetime(2025, 6, 20, 15, 30, 11, tzinfo=timezone.utc)
HISTORY = [{"status": "queued", "date": "2025-06-20T15:30:05.356Z"}]


@pytest.mark.parametrize(
    ("scenario_job", "expected"),
    [
        (
            {"status": "in-progress", "progress": 0.4},
            {"scenario_status": "in-progress", "status": JobStatus.IN_PROGRESS, "progress": 0.4},
        ),
        (
            {"status": "success", "progress": 1, "metadata": {"assetIds": ["asset_1"]}},
            {
                "scenario_status": "success",
                "status": JobStatus.SUCCESS,
                "finished_at": NOW,
                "progress": 1.0,
                "asset_ids": ["asset_1"],
            },
        ),
        # A status this code does not know is kept verbatim and moves nothing.
        ({"status": "upscaling"}, {"scenario_status": "upscaling"}),
        # Local states are never taken from Scenario.
        ({"status": "dead"}, {"scenario_status": "dead"}),
        ({"statusHistory": HISTORY}, {"status_history": HISTORY}),
        # Missing or malformed fields set nothing.
        ({}, {}),
        ({"status": None, "progress": "half", "statusHistory": "queued", "metadata": "x"}, {}),
        ({"progress": True}, {}),
        ({"metadata": {"assetIds": None}}, {}),
    ],
)
def test_a_scenario_job_sets_these_columns(scenario_job, expected):
    assert snapshot_values(scenario_job, now=NOW) == expected


def test_a_failed_job_records_scenarios_error_text():
    values = snapshot_values({"status": "failure", "metadata": {"error": "NSFW content detected"}}, now=NOW)

    assert values["status"] is JobStatus.FAILURE
    assert values["finished_at"] == NOW
    assert values["last_error"]["message"] == "NSFW content detected"


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        ("out of memory", None, "out of memory"),
        ({"code": "GPU_OOM", "message": "out of memory"}, "GPU_OOM", "out of memory"),
        (None, None, FAILED_WITHOUT_REASON),
        ("", None, FAILED_WITHOUT_REASON),
        ({"code": 7}, None, FAILED_WITHOUT_REASON),
    ],
)
def test_a_failure_error_always_has_status_code_and_message(error, code, message):
    assert failure_error(error) == {"type": "JobFailed", "status": None, "code": code, "message": message}
