"""What a completion callback says: one JSON document per job end, signed exactly as stored."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

EVENT_TYPE = "job.ended"


def webhook_id_of(job_id: str) -> str:
    """One id per job end: every attempt and any replay carry it, so the receiver can drop repeats."""
    return f"msg_{job_id}"


def callback_body(
    *,
    job_id: str,
    status: str,
    scenario_job_id: str | None,
    asset_ids: list[Any],
    error: dict[str, Any] | None,
    metadata: dict[str, Any],
    tags: list[Any],
    finished_at: datetime | None,
) -> str:
    """The body, in Standard Webhooks' shape: `{"type", "timestamp", "data"}`.

    Asset URLs are not in it: Scenario's are signed and expire, so the receiver asks for them
    (GET /assets/{id}) when it uses them, with the ids given here.
    """
    document = {
        "type": EVENT_TYPE,
        "timestamp": finished_at.isoformat() if finished_at else None,
        "data": {
            "job_id": job_id,
            "status": status,
            "scenario_job_id": scenario_job_id,
            "asset_ids": list(asset_ids),
            "error": _error(error),
            "metadata": dict(metadata),
            "tags": list(tags),
        },
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def _error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    if not error:
        return None
    # What the receiver can act on; retry bookkeeping stays ours.
    return {key: error.get(key) for key in ("code", "status", "message")}
