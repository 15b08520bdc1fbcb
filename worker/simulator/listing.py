"""GET /jobs paging: newest changes first, with an opaque cursor, as pure functions."""

from __future__ import annotations

import base64
import heapq
import json
from collections.abc import Sequence
from typing import Any

from worker.simulator.messages import ApiError
from worker.simulator.timefmt import parse_iso_ms

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
STATUSES = frozenset({"pending", "queued", "warming-up", "in-progress", "finalizing", "success", "failure", "canceled"})

Key = tuple[int, str]  # (updatedAt in ms, jobId): the order of the listing, descending


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


def parse_updated_after(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return parse_iso_ms(raw)
    except ValueError:
        raise ApiError(400, '"updatedAfter" must be an ISO 8601 date such as 2025-06-20T15:30:05.356Z') from None


def page(
    entries: Sequence[tuple[Key, str, Any]],
    *,
    status: str | None,
    updated_after_ms: int | None,
    page_size: int,
    after: Key | None,
) -> tuple[list[Any], str | None]:
    """One page of (key, status, item) entries and the token of the next page (None on the last).

    Kept: status equal to `status`, updatedAt strictly later than `updated_after_ms`,
    and position strictly after the cursor `after`.
    """
    chosen = [
        (key, item)
        for key, entry_status, item in entries
        if (status is None or entry_status == status)
        and (updated_after_ms is None or key[0] > updated_after_ms)
        and (after is None or key < after)
    ]
    # One more than a page tells whether another page follows.
    top = heapq.nlargest(page_size + 1, chosen, key=lambda pair: pair[0])
    items = top[:page_size]
    more = len(top) > page_size
    return [item for _, item in items], encode_token(items[-1][0]) if more else None
