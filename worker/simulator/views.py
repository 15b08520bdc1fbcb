"""Jobs and assets as the API answers them (the contract's JSON shapes)."""

from __future__ import annotations

import zlib
from typing import Any

from worker.simulator.png import PALETTE, make_png
from worker.simulator.signing import download_url
from worker.simulator.timefmt import iso_ms, to_ms
from worker.simulator.world import JobRecord

EDIT_CAPABILITIES = ["DETECTION", "GENERATIVE_FILL", "PIXELATE", "REFINE", "REMOVE_BACKGROUND", "UPSCALE"]


def job_json(record: JobRecord, now: float) -> dict[str, Any]:
    """The whole job object at `now`."""
    state = record.state(now)
    metadata: dict[str, Any] = {
        "input": dict(record.input),
        "assetIds": list(record.asset_ids) if state.status == "success" else [],
    }
    if state.status == "failure":
        metadata["error"] = record.error
    job: dict[str, Any] = {
        "jobId": record.job_id,
        "jobType": record.model.job_type,
        "status": state.status,
        "progress": state.progress,
        "statusHistory": [{"status": status, "date": iso_ms(at)} for status, at in state.history],
        "metadata": metadata,
        "ownerId": record.owner_id,
        "authorId": record.author_id,
        "createdAt": iso_ms(record.times.created_at),
        "updatedAt": iso_ms(state.updated_at),
    }
    if state.status == "success":
        job["billing"] = {"cuCost": record.cu_cost, "cuDiscount": 0}
    return job


def palette_index(asset_id: str) -> int:
    """Each asset's colours, stable for the asset's life."""
    return zlib.crc32(asset_id.encode()) % len(PALETTE)


def asset_png(record: JobRecord, asset_id: str) -> bytes:
    return make_png(int(record.input["width"]), int(record.input["height"]), palette_index(asset_id))


def asset_json(
    record: JobRecord, asset_id: str, now: float, *, base_url: str, signing_key: bytes, url_ttl_s: float
) -> dict[str, Any]:
    """The whole asset object, with a download URL signed to expire `url_ttl_s` from now."""
    created = iso_ms(record.state(now).updated_at)
    inputs = {k: v for k, v in record.input.items() if k != "type"}
    width, height = int(record.input["width"]), int(record.input["height"])
    return {
        "id": asset_id,
        "url": download_url(base_url, signing_key, asset_id, to_ms(now + url_ttl_s)),
        "mimeType": "image/png",
        "kind": "image",
        "status": "success",
        "source": "txt2img",
        "metadata": {**inputs, "kind": "image", "type": "inference-txt2img", "parentJobId": record.job_id},
        "properties": {"size": len(asset_png(record, asset_id)), "width": width, "height": height},
        "privacy": "private",
        "tags": [],
        "collectionIds": [],
        "editCapabilities": list(EDIT_CAPABILITIES),
        "authorId": record.author_id,
        "ownerId": record.owner_id,
        "createdAt": created,
        "updatedAt": created,
    }
