"""POST /assets: an image sent inline as a data URL, checked and read like the service does."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from worker.simulator.media import NotAnImage, image_size
from worker.simulator.messages import ApiError

_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*);base64,(?P<data>.*)", re.S)
_FIELDS = ("name", "image")


@dataclass(frozen=True)
class Image:
    """A decoded upload: its bytes and what its header says."""

    name: str
    mime_type: str
    data: bytes
    width: int
    height: int


def decode_data_url(text: str, max_bytes: int) -> bytes:
    """The bytes of a base64 data URL; 400 when it is not one, 413 when it decodes to more than max_bytes."""
    found = _DATA_URL.fullmatch(text.strip())
    if found is None:
        raise ApiError(400, '"image" must be a data URL such as data:image/png;base64,...')
    encoded = re.sub(r"\s+", "", found["data"])
    # Refuse before decoding what is sure to be too large (4 base64 characters carry 3 bytes).
    if len(encoded) // 4 * 3 - 2 > max_bytes:
        raise ApiError(413, f'"image" is over the {max_bytes} bytes an upload may hold')
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, '"image" is not valid base64') from None
    if len(data) > max_bytes:
        raise ApiError(413, f'"image" is over the {max_bytes} bytes an upload may hold')
    return data


def parse_upload(body: Any, max_bytes: int) -> Image:
    """The image of a POST /assets body {"name", "image"}; ApiError 400 / 413 naming the field."""
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    for field in body:
        if field not in _FIELDS:
            raise ApiError(400, f'"{field}" is not allowed; send {", ".join(_FIELDS)}')
    name = body.get("name", "upload")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, '"name" must be a non-empty string')
    if "image" not in body:
        raise ApiError(400, '"image" is required')
    if not isinstance(body["image"], str):
        raise ApiError(400, '"image" must be a data URL string')
    data = decode_data_url(body["image"], max_bytes)
    try:
        mime_type, width, height = image_size(data)
    except NotAnImage as error:
        raise ApiError(400, f'"image" is not a PNG or JPEG image: {error}') from None
    return Image(name.strip(), mime_type, data, width, height)
