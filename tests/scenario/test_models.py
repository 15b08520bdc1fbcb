"""The pure readers of Scenario's answers, as tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from worker.scenario.errors import UnexpectedResponse
from worker.scenario.models import (
    JOB_KEYS,
    JobPage,
    asset_ids_of,
    creative_units_cost,
    error_of,
    iso_timestamp,
    job_page,
    unwrap,
)

JOB = {"jobId": "job_1", "status": "queued"}


@pytest.mark.parametrize(
    ("body", "page"),
    [
        ({"jobs": [JOB], "nextPaginationToken": "t"}, JobPage([JOB], "t")),
        ({"jobs": [JOB]}, JobPage([JOB], None)),
        ({"jobs": [], "nextPaginationToken": ""}, JobPage([], None)),
        ({"jobs": [], "nextPaginationToken": None}, JobPage([], None)),
    ],
)
def test_a_job_page_ends_when_the_token_is_missing_or_empty(body, page):
    assert job_page(body) == page


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"jobs": [JOB], "nextPaginationToken": 3}, "nextPaginationToken"),
        ({"jobs": {"a": JOB}}, "'jobs'"),
        ({"jobs": ["job_1"]}, "jobs[0]"),
        ({"jobs": [JOB, {"jobId": "job_2"}]}, "jobs[1]"),
        (None, "not a JSON object"),
    ],
)
def test_a_broken_job_page_names_what_is_wrong(body, named):
    with pytest.raises(UnexpectedResponse, match=named.replace("[", r"\[").replace("]", r"\]")):
        job_page(body)


def test_a_job_page_is_frozen():
    with pytest.raises(AttributeError):
        JobPage([], None).next_token = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "cost"),
    [
        ({"creativeUnitsCost": 4}, 4.0),
        ({"creativeUnitsCost": 0}, 0.0),
        ({"creativeUnitsCost": 1.25, "job": {"creativeUnitsCost": 9}}, 1.25),
        ({"job": {"creativeUnitsCost": 3}}, 3.0),
        ({"job": {"billing": {"creativeUnitsCost": 6.5}}}, 6.5),
    ],
)
def test_the_dry_run_cost_is_read_from_the_first_place_that_has_it(body, cost):
    assert creative_units_cost(body) == cost


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"job": {"billing": {"cuCost": 3}}},
        {"creativeUnitsCost": "5"},
        {"creativeUnitsCost": True},
        {"creativeUnitsCost": -1},
        {"creativeUnitsCost": None},
        {"creativeUnitsCost": float("inf")},
        [],
    ],
)
def test_a_dry_run_without_a_usable_cost_is_an_unexpected_response(body):
    with pytest.raises(UnexpectedResponse):
        creative_units_cost(body)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2025, 6, 20, 15, 30, 5, 356999, tzinfo=timezone.utc), "2025-06-20T15:30:05.356Z"),
        (datetime(2025, 6, 20, 15, 30, 5), "2025-06-20T15:30:05.000Z"),
        (datetime(2025, 6, 20, 1, 0, 0, tzinfo=timezone(timedelta(hours=2))), "2025-06-19T23:00:00.000Z"),
        ("2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
    ],
)
def test_timestamps_are_written_in_utc_with_milliseconds_and_z(value, text):
    assert iso_timestamp(value) == text


def test_unwrap_returns_a_copy_of_the_inner_object():
    body = {"job": dict(JOB)}
    job = unwrap(body, "job", JOB_KEYS, what="get job")
    job["status"] = "changed"
    assert body["job"]["status"] == "queued"


@pytest.mark.parametrize(("inner", "named"), [({"jobId": "", "status": "x"}, "'jobId'"), ({"jobId": "j"}, "'status'")])
def test_unwrap_names_the_missing_or_empty_field(inner, named):
    with pytest.raises(UnexpectedResponse, match=named):
        unwrap({"job": inner}, "job", JOB_KEYS, what="get job")


@pytest.mark.parametrize(
    ("job", "ids"),
    [
        ({"metadata": {"assetIds": ["a1", "a2"]}}, ["a1", "a2"]),
        ({"assetIds": ["a1"], "metadata": {"input": {}}}, ["a1"]),
        ({"assetIds": ["top"], "metadata": {"assetIds": ["meta"]}}, ["meta"]),
        ({"metadata": {"assetIds": []}, "assetIds": ["a1"]}, ["a1"]),
        ({"metadata": {"assetIds": ["a1", None, 3, ""]}}, ["a1"]),
        ({"metadata": None}, []),
        ({}, []),
    ],
)
def test_a_jobs_asset_ids_are_found_under_metadata_or_at_the_top(job, ids):
    assert asset_ids_of(job) == ids


@pytest.mark.parametrize(
    ("job", "error"),
    [
        ({"status": "failure", "metadata": {"error": "NSFW content"}}, "NSFW content"),
        ({"status": "failure", "error": "Out of memory", "metadata": {}}, "Out of memory"),
        ({"status": "failure", "metadata": {"error": ""}, "error": "top"}, "top"),
        ({"status": "failure", "metadata": {"error": {"code": 1}}}, None),
        ({"status": "success", "metadata": {"assetIds": ["a"]}}, None),
    ],
)
def test_a_failed_jobs_error_is_found_under_metadata_or_at_the_top(job, error):
    assert error_of(job) == error
