"""Scenario's timestamps: ISO 8601 UTC with milliseconds and a `Z`."""

from __future__ import annotations

from datetime import datetime, timezone


def to_ms(t: float) -> int:
    """Whole milliseconds since the epoch, floored, so a date and its string always agree."""
    return int(t * 1000)


def iso_ms(t: float) -> str:
    """`2025-06-20T15:30:05.356Z` for a Unix time in seconds."""
    ms = to_ms(t)
    moment = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def parse_iso_ms(text: str) -> int:
    """Milliseconds since the epoch for an ISO 8601 date; a date without zone is UTC.

    Raises ValueError for anything that is not such a date.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(round(moment.timestamp() * 1000))
