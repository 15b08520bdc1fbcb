"""Checking that downloaded bytes are a whole, readable PNG: pure functions, no I/O.

A download can be cut short, come from a proxy's error page, or carry a
flipped bit; a game build that picks up such a file fails far from its cause.
So every chunk is walked and CRC-checked, and the image data is inflated and
measured against the header, before a file is accepted.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The PNG specification caps chunk lengths and image dimensions at 2**31 - 1.
MAX_UINT31 = 2**31 - 1
# Colour type -> (samples per pixel, allowed bit depths), from the PNG specification.
_COLOUR_TYPES = {
    0: (1, (1, 2, 4, 8, 16)),  # greyscale
    2: (3, (8, 16)),  # RGB
    3: (1, (1, 2, 4, 8)),  # palette
    4: (2, (8, 16)),  # greyscale + alpha
    6: (4, (8, 16)),  # RGBA
}
# Adam7 passes: (x start, y start, x step, y step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


class NotAnImage(ValueError):
    """Bytes that are not a complete, valid PNG; the message says what is wrong."""


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, after checking its signature, every chunk and its image data."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise NotAnImage(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data.startswith(SIGNATURE):
        raise NotAnImage(f"does not start with the PNG signature (first bytes {data[:8]!r})")
    chunks = list(_chunks(data))
    kinds = [kind for kind, _ in chunks]
    if kinds[0] != b"IHDR":
        raise NotAnImage(f"the first chunk is {kinds[0].decode('latin-1')!r}, not IHDR")
    if kinds[-1] != b"IEND":
        raise NotAnImage("has no IEND chunk at the end (the file is cut short)")
    if kinds.count(b"IHDR") != 1 or kinds.count(b"IEND") != 1:
        raise NotAnImage("has more than one IHDR or IEND chunk")
    width, height, colour_type, bit_depth, interlaced = _header(chunks[0][1])
    if colour_type == 3 and b"PLTE" not in kinds:
        raise NotAnImage("is a palette image without a PLTE chunk")
    image_data = _image_data(chunks)
    expected = _inflated_size(width, height, colour_type, bit_depth, interlaced)
    _check_inflates_to(image_data, expected)
    return width, height


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, data) of every chunk after the signature, up to and including IEND."""
    at = len(SIGNATURE)
    if at == len(data):
        raise NotAnImage("has no chunks after the signature")
    while at < len(data):
        if at + 8 > len(data):
            raise NotAnImage(f"is cut short inside a chunk header at byte {at}")
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if not kind.isalpha():
            raise NotAnImage(f"has a chunk with an invalid type {kind!r} at byte {at}")
        name = kind.decode("ascii")
        if length > MAX_UINT31:
            raise NotAnImage(f"chunk {name} at byte {at} claims {length} bytes, over the PNG limit")
        end = at + 8 + length + 4
        if end > len(data):
            raise NotAnImage(f"is cut short inside chunk {name} at byte {at}")
        body = data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise NotAnImage(f"chunk {name} at byte {at} fails its CRC check")
        yield kind, body
        at = end
        if kind == b"IEND":
            if length:
                raise NotAnImage("its IEND chunk is not empty")
            if at != len(data):
                raise NotAnImage(f"has {len(data) - at} stray bytes after IEND")
            return


def _header(body: bytes) -> tuple[int, int, int, int, bool]:
    """(width, height, colour type, bit depth, interlaced) from a checked IHDR."""
    if len(body) != 13:
        raise NotAnImage(f"its IHDR chunk holds {len(body)} bytes, not 13")
    width, height, bit_depth, colour_type, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if not (1 <= width <= MAX_UINT31 and 1 <= height <= MAX_UINT31):
        raise NotAnImage(f"has an impossible size {width}x{height}")
    if colour_type not in _COLOUR_TYPES or bit_depth not in _COLOUR_TYPES[colour_type][1]:
        raise NotAnImage(f"has an invalid colour type {colour_type} with bit depth {bit_depth}")
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise NotAnImage("has an unknown compression, filter or interlace method")
    return width, height, colour_type, bit_depth, interlace == 1


def _image_data(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """The IDAT chunks joined; they must exist and follow one another."""
    places = [i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT"]
    if not places:
        raise NotAnImage("has no IDAT chunk (no image data)")
    if places != list(range(places[0], places[-1] + 1)):
        raise NotAnImage("has IDAT chunks that do not follow one another")
    return b"".join(chunks[i][1] for i in places)


def _inflated_size(width: int, height: int, colour_type: int, bit_depth: int, interlaced: bool) -> int:
    """How many bytes the image data inflates to: each row is a filter byte and its packed pixels."""
    bits_per_pixel = _COLOUR_TYPES[colour_type][0] * bit_depth
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        pass_width = max(0, (width - x0 + dx - 1) // dx)
        pass_height = max(0, (height - y0 + dy - 1) // dy)
        if pass_width and pass_height:
            total += pass_height * (1 + (pass_width * bits_per_pixel + 7) // 8)
    return total


def _check_inflates_to(compressed: bytes, expected: int) -> None:
    # max_length bounds the memory a hostile "zip bomb" could make us allocate.
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, expected + 1)
    except zlib.error as exc:
        raise NotAnImage(f"its image data is not a valid zlib stream ({exc})") from None
    if len(raw) > expected:
        raise NotAnImage(f"its image data inflates to more than the {expected} bytes its size needs")
    if len(raw) < expected:
        raise NotAnImage(f"its image data inflates to {len(raw)} bytes, not the {expected} its size needs")
    if not inflater.eof:
        raise NotAnImage("its image data stream is cut short")
