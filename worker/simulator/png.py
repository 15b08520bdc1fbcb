"""Small valid PNG images of any size, built with zlib alone."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A handful of colour pairs; each asset gets one, so the cache below stays useful.
PALETTE = (
    ((230, 57, 70), (29, 53, 87)),
    ((42, 157, 143), (233, 196, 106)),
    ((244, 162, 97), (38, 70, 83)),
    ((131, 56, 236), (58, 134, 255)),
    ((255, 190, 11), (251, 86, 7)),
    ((6, 214, 160), (17, 138, 178)),
    ((239, 71, 111), (255, 209, 102)),
    ((73, 80, 87), (248, 249, 250)),
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _row(width: int, colour: tuple[int, int, int]) -> bytes:
    # Filter "Sub" (1): the first pixel as is, then differences that are all zero,
    # which zlib squeezes to almost nothing even for 2048 pixels.
    return b"\x01" + bytes(colour) + b"\x00" * (3 * (width - 1))


def _blend(top: tuple[int, int, int], bottom: tuple[int, int, int], y: int, height: int) -> tuple[int, int, int]:
    share = y / max(1, height - 1)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(top, bottom, strict=False))
    return (r, g, b)


@lru_cache(maxsize=32)
def make_png(width: int, height: int, palette_index: int = 0) -> bytes:
    """An RGB PNG of width x height: a vertical gradient between one palette pair."""
    if width < 1 or height < 1:
        raise ValueError("width and height must be at least 1")
    top, bottom = PALETTE[palette_index % len(PALETTE)]
    raw = b"".join(_row(width, _blend(top, bottom, y, height)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
