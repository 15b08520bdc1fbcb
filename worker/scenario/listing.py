"""The query of `GET /jobs`, built and checked as a pure function.

Scenario sorts jobs by update date only when the list is narrowed by `status`,
`type`, `types` or `workflowId`; without them it sorts by creation date, where
`updatedAfter` is not allowed (the live service may refuse it or ignore it), so
the client refuses to send it rather than page through a list in the wrong order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from worker.scenario.models import iso_timestamp

# The query keys that make Scenario sort by update date, where `updatedAfter` is allowed.
UPDATE_ORDER_KEYS = ("status", "type", "types", "workflowId")


def jobs_query(
    *,
    status: str | None = None,
    type: str | None = None,
    types: Sequence[str] | None = None,
    workflow_id: str | None = None,
    updated_after: datetime | str | None = None,
    created_after: datetime | str | None = None,
    page_size: int | None = None,
    pagination_token: str | None = None,
) -> dict[str, str]:
    """The query parameters as Scenario spells them; ValueError naming the argument when one is wrong."""
    query: dict[str, str] = {}
    single = (("status", "status", status), ("type", "type", type), ("workflow_id", "workflowId", workflow_id))
    for name, key, value in single:
        if value is not None:
            query[key] = _filter_text(name, value)
    if types is not None:
        if isinstance(types, str) or not types:
            raise ValueError(f"types must be a non-empty list of job types, got {types!r}")
        query["types"] = ",".join(_filter_text("types[]", t) for t in types)
    if updated_after is not None:
        if not any(key in query for key in UPDATE_ORDER_KEYS):
            raise ValueError(
                "updated_after is only allowed together with status, type, types or workflow_id "
                "(without them Scenario sorts jobs by creation date); use created_after instead"
            )
        query["updatedAfter"] = iso_timestamp(updated_after)
    if created_after is not None:
        query["createdAfter"] = iso_timestamp(created_after)
    if page_size is not None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be a whole number of at least 1, got {page_size!r}")
        query["pageSize"] = str(page_size)
    if pagination_token:
        query["paginationToken"] = pagination_token
    return query


def _filter_text(name: str, value: object) -> str:
    # A comma would split one type into two in `types`; an empty filter would match nothing useful.
    if not isinstance(value, str) or not value or "," in value:
        raise ValueError(f"{name} must be a non-empty string without commas, got {value!r}")
    return value
