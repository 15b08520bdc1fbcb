"""Jobs and assets as the API answers them (the contract's JSON shapes)."""

from __future__ import annotations

from typing import Any

from worker.simulator.assets import Asset
from worker.simulator.signing import download_url
from worker.simulator.timefmt import iso_ms, to_ms
from worker.simulator.world import JobRecord

EDIT_CAPABILITIES = ["DETECTION", "GENERATIVE_FILL", "PIXELATE", "REFINE", "REMOVE_BACKGROUND", "UPSCALE"]


def billing_json(record: JobRecord, refunded: bool) -> dict[str, Any]:
    """Charged at acceptance; a failed job keeps its cuCost and says `refunded: true` once given back."""
    billing: dict[str, Any] = {
        "cuCost": record.cu_cost,
        "cuDiscount": 0,
        "cuCostDetails": dict(record.cu_details),
        "disableRefund": False,
    }
    if refunded:
        billing["refunded"] = True
    return billing


def job_json(record: JobRecord, now: float, *, refunded: bool = False) -> dict[str, Any]:
    """The whole job object at `now`."""
    state = record.state(now)
    metadata: dict[str, Any] = {
        "input": dict(record.input),
        "assetIds": list(record.asset_ids) if state.status == "success" else [],
    }
    if state.status == "failure":
        metadata["error"] = record.error
    return {
        "jobId": record.job_id,
        "jobType": record.model.job_type,
        "status": state.status,
        "progress": state.progress,
        "statusHistory": [{"status": status, "date": iso_ms(at)} for status, at in state.history],
        "metadata": metadata,
        "assetIds": list(record.asset_ids) if state.status == "success" else [],
        "billing": billing_json(record, refunded),
        "ownerId": record.owner_id,
        "authorId": record.author_id,
        "createdAt": iso_ms(record.times.created_at),
        "updatedAt": iso_ms(state.updated_at),
    }


def asset_json(asset: Asset, now: float, *, base_url: str, signing_key: bytes, url_ttl_s: float) -> dict[str, Any]:
    """The whole asset object, with a download URL signed to expire `url_ttl_s` from now."""
    created = iso_ms(asset.created_at)
    properties: dict[str, Any] = {"size": len(asset.content())}
    if asset.width is not None:
        properties.update(width=asset.width, height=asset.height)
    return {
        "id": asset.id,
        "url": download_url(base_url, signing_key, asset.id, to_ms(now + url_ttl_s), asset.extension),
        "mimeType": asset.mime_type,
        "kind": asset.kind,
        "status": "success",
        "source": asset.source,
        "metadata": dict(asset.metadata),
        "properties": properties,
        "privacy": "private",
        "tags": [],
        "collectionIds": [],
        "editCapabilities": list(EDIT_CAPABILITIES) if asset.kind == "image" else [],
        "authorId": asset.author_id,
        "ownerId": asset.owner_id,
        "createdAt": created,
        "updatedAt": created,
    }
