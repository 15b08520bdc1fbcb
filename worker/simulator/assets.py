"""An asset, whether a job made it or a client uploaded it: what it is and its bytes."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from worker.simulator.media import make_glb, make_wav
from worker.simulator.models import OUTPUTS
from worker.simulator.png import PALETTE, make_png
from worker.simulator.world import JobRecord, Upload, World

# Upscaled images are kept small enough to build in memory quickly.
MAX_OUTPUT_SIDE_PX = 4096


@dataclass(frozen=True)
class Asset:
    """What the asset JSON and the download need to know."""

    id: str
    owner_id: str
    author_id: str
    mime_type: str
    kind: str
    extension: str
    source: str
    created_at: float
    metadata: dict[str, Any]
    width: int | None
    height: int | None
    job: JobRecord | None = None
    upload: Upload | None = None

    def content(self) -> bytes:
        if self.upload is not None:
            return self.upload.data
        assert self.job is not None
        return job_asset_bytes(self.job, self.id)


def palette_index(asset_id: str) -> int:
    """Each asset's colours (or tone), stable for the asset's life."""
    return zlib.crc32(asset_id.encode()) % len(PALETTE)


def image_size_of(record: JobRecord) -> tuple[int, int]:
    if record.output_size is not None:
        return record.output_size
    return int(record.input.get("width", 1024)), int(record.input.get("height", 1024))


def job_asset_bytes(record: JobRecord, asset_id: str) -> bytes:
    if record.model.output == "audio":
        return make_wav(float(record.input.get("durationSeconds", 5)), palette_index(asset_id))
    if record.model.output == "3d":
        return make_glb(bool(record.input.get("textured", True)))
    width, height = image_size_of(record)
    return make_png(width, height, palette_index(asset_id))


def _job_asset(record: JobRecord, asset_id: str, now: float) -> Asset:
    mime, extension = OUTPUTS[record.model.output]
    inputs = {k: v for k, v in record.input.items() if k != "type"}
    metadata = {**inputs, "kind": record.model.output, "type": f"inference-{record.model.job_type}"}
    metadata["parentJobId"] = record.job_id
    if "seed" in metadata:
        metadata["seed"] = str(metadata["seed"])
    width = height = None
    if record.model.output == "image":
        width, height = image_size_of(record)
        metadata["type"] = "inference-txt2img" if record.model.is_text_to_image else metadata["type"]
    return Asset(
        id=asset_id,
        owner_id=record.owner_id,
        author_id=record.author_id,
        mime_type=mime,
        kind=record.model.output,
        extension=extension,
        source="txt2img" if record.model.is_text_to_image else record.model.job_type,
        created_at=record.state(now).updated_at,
        metadata=metadata,
        width=width,
        height=height,
        job=record,
    )


def _uploaded_asset(upload: Upload) -> Asset:
    return Asset(
        id=upload.asset_id,
        owner_id=upload.owner_id,
        author_id=upload.author_id,
        mime_type=upload.mime_type,
        kind="image",
        extension="png" if upload.mime_type == "image/png" else "jpg",
        source="uploaded",
        created_at=upload.created_at,
        metadata={"kind": "image", "type": "uploaded", "name": upload.name},
        width=upload.width,
        height=upload.height,
        upload=upload,
    )


def find_asset(world: World, asset_id: str, now: float) -> Asset | None:
    """An uploaded asset, or one of a job that has succeeded; None otherwise."""
    upload = world.upload(asset_id)
    if upload is not None:
        return _uploaded_asset(upload)
    record = world.asset_job(asset_id, now)
    return None if record is None else _job_asset(record, asset_id, now)


def upscaled_size(width: int, height: int, factor: float) -> tuple[int, int]:
    return min(MAX_OUTPUT_SIDE_PX, round(width * factor)), min(MAX_OUTPUT_SIDE_PX, round(height * factor))
