"""Label values never carry an id, and the numbers derived from Scenario's answers."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from worker.fleet.errors import Throttled
from worker.observe.labels import answer_label, lane_of_job, moved, reason_of, route_of, status_lag_s
from worker.scenario.errors import RateLimited, ServerError
from worker.states import JobStatus


@pytest.mark.parametrize(
    ("endpoint", "method", "path", "route"),
    [
        ("submit", "POST", "/v1/generate/custom/flux.1-dev", "POST /generate/custom/{modelId}"),
        ("submit", "POST", "/v1/generate/txt2img", "POST /generate/txt2img"),
        ("get_job", "GET", "/v1/jobs/job_a1b2", "GET /jobs/{jobId}"),
        ("list_jobs", "GET", "/v1/jobs", "GET /jobs"),
        ("cancel", "POST", "/v1/jobs/job_a1b2/action", "POST /jobs/{jobId}/action"),
        ("get_asset", "GET", "/v1/assets/asset_9", "GET /assets/{assetId}"),
        ("get_assets_bulk", "POST", "/v1/assets/get-bulk", "POST /assets/get-bulk"),
        ("upload_asset", "POST", "/v1/assets", "POST /assets"),
        ("get_model", "GET", "/v1/models/model_x", "GET /models/{modelId}"),
        ("get_team_limits", "GET", "/v1/teams/team_7/limits", "GET /teams/{teamId}/limits"),
        ("download", "GET", "/cdn/asset_9/image.png", "GET {assetUrl}"),
        ("get_job", "GET", "/v1/something/new", "other"),
    ],
)
def test_a_request_is_counted_under_its_route_template(endpoint, method, path, route):
    assert route_of(endpoint, method, path) == route


@pytest.mark.parametrize(("status", "label"), [(200, "200"), (503, "503"), (None, "error")])
def test_an_answer_is_counted_by_its_http_status_or_as_an_error(status, label):
    assert answer_label(status) == label


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ServerError("boom", status=503), "server_error"),
        (RateLimited("slow down", status=429), "rate_limited"),
        (Throttled("budget", retry_after_s=1.0), "throttled"),
        (None, "unknown"),
    ],
)
def test_a_retry_is_counted_by_its_error_class(error, reason):
    assert reason_of(error) == reason


def test_a_job_is_counted_in_its_submit_lane():
    assert (lane_of_job(None), lane_of_job("batch-1")) == ("scenario.submit", "scenario.batch")


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        (JobStatus.QUEUED, JobStatus.IN_PROGRESS, True),
        (JobStatus.IN_PROGRESS, JobStatus.IN_PROGRESS, False),
        (None, JobStatus.SUCCESS, True),
        (JobStatus.QUEUED, None, False),
    ],
)
def test_a_transition_is_a_change_of_status(before, after, changed):
    assert moved(before, after) is changed


NOW = datetime(2026, 1, 1, 12, 0, 10, tzinfo=timezone.utc)
HISTORY = [
    {"status": "queued", "date": "2026-01-01T12:00:00.000Z"},
    {"status": "success", "date": "2026-01-01T12:00:07.500Z"},
]


@pytest.mark.parametrize(
    ("job", "lag_s"),
    [
        ({"status": "success", "statusHistory": HISTORY}, 2.5),
        ({"status": "in-progress", "statusHistory": HISTORY}, None),
        ({"status": "success", "statusHistory": HISTORY[:1]}, None),
        ({"status": "success", "statusHistory": [{"status": "success", "date": "yesterday"}]}, None),
        ({"status": "success"}, None),
    ],
)
def test_the_status_lag_runs_from_scenarios_final_entry_to_our_row(job, lag_s):
    assert status_lag_s(job, NOW) == lag_s
