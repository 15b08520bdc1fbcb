"""What a downloaded asset must be, from its MIME type and Scenario's properties: pure functions, no I/O.

Scenario's models produce images, video, audio and 3D. Each file is named for
its real type and checked for it: images as `worker.batches.images` does, at the
size Scenario reports; other kinds by their byte count and, for the kinds known
here, a cheap signature check, so an error page or a cut-short file is refused.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from typing import Any

from worker.batches.images import NotAnImage, image_size

# MIME type -> file extension, for the types Scenario's models are known to give.
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "model/gltf-binary": "glb",
    "model/gltf+json": "gltf",
    "model/obj": "obj",
    "application/octet-stream": "bin",
}
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
# Longest extension made from an unknown subtype; longer ones are cut.
MAX_GUESSED_EXTENSION = 10


class NotTheMedia(ValueError):
    """Bytes that are not what the asset says they are (wrong length or signature); the message says how."""


def normal_type(mime_type: str) -> str:
    """`Image/PNG; charset=x` -> `image/png`: lower case, parameters dropped."""
    return mime_type.split(";", 1)[0].strip().lower()


def extension_for(mime_type: str) -> str:
    """The file extension (no dot) for a MIME type; an unknown one gets its subtype made safe, or `bin`."""
    kind = normal_type(mime_type)
    if kind in EXTENSIONS:
        return EXTENSIONS[kind]
    subtype = kind.partition("/")[2].removeprefix("x-").partition("+")[0]
    safe = re.sub(r"[^a-z0-9]", "", subtype)[:MAX_GUESSED_EXTENSION]
    return safe or "bin"


def check_asset(
    data: bytes, mime_type: str, properties: Mapping[str, Any], fallback_size: tuple[int, int] | None = None
) -> tuple[int, int] | None:
    """Refuse bytes that are not the asset Scenario describes; an image's (width, height), else None.

    An image must be whole and of the size in `properties` (`width`, `height`),
    or `fallback_size` (what the job asked for) when Scenario does not say.
    Anything else must have `properties["size"]` bytes when Scenario says, and
    the signature of its kind when that kind is known here.
    """
    kind = normal_type(mime_type)
    if kind in IMAGE_TYPES:
        size = image_size(data, kind)
        expected = _reported_size(properties) or fallback_size
        if expected is not None and size != tuple(expected):
            want = "x".join(map(str, expected))
            raise NotAnImage(f"the image is {size[0]}x{size[1]}, not the {want} expected")
        return size
    wanted = properties.get("size")
    if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted != len(data):
        raise NotTheMedia(f"the file has {len(data)} bytes, not the {wanted} Scenario reports")
    signature = _SIGNATURES.get(kind)
    if signature is not None:
        signature(data)
    return None


def _reported_size(properties: Mapping[str, Any]) -> tuple[int, int] | None:
    width, height = properties.get("width"), properties.get("height")
    if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        return width, height
    return None


def _wav(data: bytes) -> None:
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise NotTheMedia(f"is not a RIFF/WAVE file (first bytes {data[:12]!r})")


def _glb(data: bytes) -> None:
    if len(data) < 12 or data[:4] != b"glTF":
        raise NotTheMedia(f"does not start with the glTF binary magic (first bytes {data[:4]!r})")
    (length,) = struct.unpack("<I", data[8:12])
    if length != len(data):
        raise NotTheMedia(f"its glTF header says {length} bytes, the file has {len(data)}")


def _mp4(data: bytes) -> None:
    if data[4:8] != b"ftyp":
        raise NotTheMedia(f"has no MP4 'ftyp' box at its start (bytes 4-8 are {data[4:8]!r})")


_SIGNATURES = {
    "audio/wav": _wav,
    "audio/x-wav": _wav,
    "audio/wave": _wav,
    "model/gltf-binary": _glb,
    "video/mp4": _mp4,
}
