"""Small real files of every kind the models produce (WAV, GLB), and image sizes read from headers."""

from __future__ import annotations

import json
import struct
from functools import lru_cache

# 8 kHz, 8-bit mono keeps a 30 s clip under 250 kB and is still a WAV any player reads.
WAV_RATE_HZ = 8000
_GLB_MAGIC = b"glTF"
_GLB_JSON = 0x4E4F534A  # "JSON" as a little-endian chunk type


@lru_cache(maxsize=16)
def make_wav(duration_s: float, tone_index: int = 0) -> bytes:
    """A PCM WAV of `duration_s` seconds: a quiet square wave, a different pitch per tone_index."""
    frames = max(1, round(duration_s * WAV_RATE_HZ))
    half_period = 4 + tone_index % 8
    samples = bytes(140 if (i // half_period) % 2 else 116 for i in range(frames))
    fmt = struct.pack("<HHIIHH", 1, 1, WAV_RATE_HZ, WAV_RATE_HZ, 1, 8)  # PCM, mono, 8-bit
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", frames) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


@lru_cache(maxsize=4)
def make_glb(textured: bool = True) -> bytes:
    """A binary glTF 2.0: the 12-byte header and one JSON chunk describing an empty scene."""
    document = {
        "asset": {"version": "2.0", "generator": "scenario-simulator"},
        "scene": 0,
        "scenes": [{"nodes": []}],
        "extras": {"textured": textured},
    }
    chunk = json.dumps(document, separators=(",", ":")).encode()
    chunk += b" " * (-len(chunk) % 4)  # chunks are padded to 4 bytes with spaces
    total = 12 + 8 + len(chunk)
    return _GLB_MAGIC + struct.pack("<II", 2, total) + struct.pack("<II", len(chunk), _GLB_JSON) + chunk


class NotAnImage(ValueError):
    """The bytes are neither a PNG nor a JPEG whose size can be read."""


def image_size(data: bytes) -> tuple[str, int, int]:
    """(mime type, width, height) read from a PNG's IHDR or a JPEG's start-of-frame marker."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        if width and height:
            return "image/png", width, height
        raise NotAnImage("the PNG has no size")
    if data[:2] == b"\xff\xd8":
        return ("image/jpeg", *_jpeg_size(data))
    raise NotAnImage("the data is neither a PNG nor a JPEG")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise NotAnImage("the JPEG's markers are broken")
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        # Start-of-frame markers (C0..CF, but not DHT C4, JPG C8, DAC CC) carry the size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            if width and height:
                return width, height
            break
        pos += 2 + length
    raise NotAnImage("the JPEG has no readable size")
