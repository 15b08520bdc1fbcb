"""The `GET /jobs` query as a table: arguments -> query parameters, or a ValueError naming the argument."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from worker.scenario.listing import jobs_query

WHEN = datetime(2025, 6, 20, 15, 30, 5, 356000, tzinfo=timezone.utc)
STAMP = "2025-06-20T15:30:05.356Z"


@pytest.mark.parametrize(
    ("arguments", "query"),
    [
        ({}, {}),
        ({"status": "success", "updated_after": WHEN}, {"status": "success", "updatedAfter": STAMP}),
        ({"type": "flux", "updated_after": WHEN}, {"type": "flux", "updatedAfter": STAMP}),
        ({"types": ["flux", "upscale"], "updated_after": STAMP}, {"types": "flux,upscale", "updatedAfter": STAMP}),
        ({"workflow_id": "wf_1", "updated_after": WHEN}, {"workflowId": "wf_1", "updatedAfter": STAMP}),
        ({"created_after": WHEN}, {"createdAfter": STAMP}),
        ({"created_after": WHEN, "status": "failure"}, {"createdAfter": STAMP, "status": "failure"}),
        ({"page_size": 100, "pagination_token": "t1"}, {"pageSize": "100", "paginationToken": "t1"}),
        ({"pagination_token": ""}, {}),
    ],
)
def test_the_filters_are_spelled_as_scenario_spells_them(arguments, query):
    assert jobs_query(**arguments) == query


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"updated_after": WHEN}, "use created_after"),
        ({"updated_after": WHEN, "created_after": WHEN}, "use created_after"),
        ({"updated_after": WHEN, "page_size": 10}, "only allowed together with status, type, types or workflow_id"),
        ({"types": "flux"}, "types must be a non-empty list"),
        ({"types": []}, "types must be a non-empty list"),
        ({"types": ["flux", ""]}, r"types\[\] must be a non-empty string"),
        ({"types": ["a,b"]}, "without commas"),
        ({"status": ""}, "status must be a non-empty string"),
        ({"type": 3}, "type must be a non-empty string"),
        ({"page_size": 0}, "page_size"),
    ],
)
def test_a_misplaced_or_malformed_filter_is_refused_naming_it(arguments, named):
    with pytest.raises(ValueError, match=named):
        jobs_query(**arguments)
