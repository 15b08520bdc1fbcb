"""GET /jobs: its filters and rules, and paging newest first with an opaque cursor, as pure functions."""

from __future__ import annotations

import base64
import heapq
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from worker.simulator.messages import ApiError
from worker.simulator.timefmt import parse_iso_ms

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
STATUSES = frozenset({"pending", "queued", "warming-up", "in-progress", "finalizing", "success", "failure", "canceled"})

UPDATED_AFTER_RULE = (
    '"updatedAfter" is only allowed with "status", "type", "types" or "workflowId"; use "createdAfter" without them'
)
Key = tuple[int, str]  # (updatedAt or createdAt in ms, jobId): the order of the listing, descending


def encode_token(key: Key) -> str:
    raw = json.dumps([key[0], key[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> Key:
    """The position a token stands for; raises ApiError 400 for a token we did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        updated_ms, job_id = json.loads(raw)
        if isinstance(updated_ms, int) and not isinstance(updated_ms, bool) and isinstance(job_id, str):
            return updated_ms, job_id
    except (ValueError, TypeError):
        pass
    raise ApiError(400, '"paginationToken" is not a token this API handed out')


def parse_page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise ApiError(400, '"pageSize" must be an integer') from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(400, f'"pageSize" must be between 1 and {MAX_PAGE_SIZE}')
    return size


def parse_status(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in STATUSES:
        raise ApiError(400, f'"status" must be one of {", ".join(sorted(STATUSES))}')
    return raw


def parse_date(name: str, raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return parse_iso_ms(raw)
    except ValueError:
        raise ApiError(400, f'"{name}" must be an ISO 8601 date such as 2025-06-20T15:30:05.356Z') from None


def parse_updated_after(raw: str | None) -> int | None:
    return parse_date("updatedAfter", raw)


@dataclass(frozen=True)
class ListQuery:
    """What GET /jobs asks for, checked."""

    page_size: int
    status: str | None
    job_types: frozenset[str] | None
    workflow_id: str | None
    updated_after_ms: int | None
    created_after_ms: int | None
    after: Key | None

    @property
    def by_update(self) -> bool:
        """Filtered listings are sorted by update date; the others by creation date."""
        return self.status is not None or self.job_types is not None or self.workflow_id is not None

    def keeps(self, status: str, job_type: str, workflow_id: str | None, updated_ms: int, created_ms: int) -> bool:
        return (
            (self.status is None or status == self.status)
            and (self.job_types is None or job_type in self.job_types)
            and (self.workflow_id is None or workflow_id == self.workflow_id)
            and (self.updated_after_ms is None or updated_ms > self.updated_after_ms)
            and (self.created_after_ms is None or created_ms > self.created_after_ms)
        )


def _job_types(query: Mapping[str, str]) -> frozenset[str] | None:
    names = [query.get("type") or ""] + (query.get("types") or "").split(",")
    chosen = frozenset(name.strip() for name in names if name.strip())
    return chosen or None


def parse_list_query(query: Mapping[str, str], *, strict_filters: bool) -> ListQuery:
    """The checked query; a misplaced updatedAfter is a 400 when strict, else ignored (the live service does either)."""
    token = query.get("paginationToken")
    parsed = ListQuery(
        page_size=parse_page_size(query.get("pageSize")),
        status=parse_status(query.get("status")),
        job_types=_job_types(query),
        workflow_id=query.get("workflowId") or None,
        updated_after_ms=parse_date("updatedAfter", query.get("updatedAfter")),
        created_after_ms=parse_date("createdAfter", query.get("createdAfter")),
        after=decode_token(token) if token else None,
    )
    if parsed.updated_after_ms is not None and not parsed.by_update:
        if strict_filters:
            raise ApiError(400, UPDATED_AFTER_RULE)
        parsed = replace(parsed, updated_after_ms=None)
    return parsed


def page(entries: Sequence[tuple[Key, Any]], *, page_size: int, after: Key | None) -> tuple[list[Any], str | None]:
    """One page of (key, item) entries, newest key first, and the token of the next page (None on the last).

    Kept: position strictly after the cursor `after`.
    """
    chosen = [(key, item) for key, item in entries if after is None or key < after]
    # One more than a page tells whether another page follows.
    top = heapq.nlargest(page_size + 1, chosen, key=lambda pair: pair[0])
    items = top[:page_size]
    more = len(top) > page_size
    return [item for _, item in items], encode_token(items[-1][0]) if more else None
