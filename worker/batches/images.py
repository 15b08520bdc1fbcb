"""Checking that downloaded bytes are a whole, readable image: pure functions, no I/O.

A download can be cut short, come from a proxy's error page, or carry a
flipped bit; a game build that picks up such a file fails far from its cause.
A PNG has every chunk walked and CRC-checked, and its image data inflated and
measured against the header, before a file is accepted. JPEG, WebP and GIF get
the cheaper checks their formats allow: the header that gives the size, and the
marker or length that shows the file is whole.
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
    """Bytes that are not a complete, valid image of the expected type; the message says what is wrong."""


def image_size(data: bytes, mime_type: str) -> tuple[int, int]:
    """(width, height) of an image of this MIME type, after the checks its format allows."""
    check = _BY_TYPE.get(mime_type)
    if check is None:
        raise NotAnImage(f"{mime_type!r} is not an image type this worker can check; known: {', '.join(_BY_TYPE)}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise NotAnImage(f"expected bytes, got {type(data).__name__}")
    return check(bytes(data))


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


# JPEG start-of-frame markers: baseline, progressive, lossless and arithmetic variants (not C4, C8, CC).
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers that stand alone, without a length: TEM and the restart markers.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG: SOI first, a start-of-frame before the scan gives the size, EOI at the end."""
    if not data.startswith(b"\xff\xd8"):
        raise NotAnImage(f"does not start with the JPEG SOI marker (first bytes {data[:4]!r})")
    # Some encoders pad after EOI; what matters is that the file was not cut short before it.
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise NotAnImage("has no JPEG EOI marker at the end (the file is cut short)")
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise NotAnImage(f"has no JPEG marker at byte {at}")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in _JPEG_STANDALONE:
            at += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if length < 2 or at + 2 + length > len(data):
            raise NotAnImage(f"has a JPEG segment at byte {at} that runs past the end")
        if marker in _JPEG_SOF:
            if length < 8:
                raise NotAnImage(f"has a JPEG frame header at byte {at} too short to hold a size")
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            if not (width and height):
                raise NotAnImage(f"has an impossible size {width}x{height}")
            return width, height
        at += 2 + length
    raise NotAnImage("has no JPEG start-of-frame marker before its image data (no size)")


def webp_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a WebP: a RIFF/WEBP container of the right length, sized by its VP8, VP8L or VP8X chunk."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise NotAnImage(f"is not a RIFF/WEBP container (first bytes {data[:12]!r})")
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 != len(data):
        raise NotAnImage(f"its RIFF header says {riff_size + 8} bytes, the file has {len(data)}")
    kind, body = data[12:16], data[20:]
    if kind == b"VP8 ":
        if body[3:6] != b"\x9d\x01\x2a":
            raise NotAnImage("its VP8 chunk lacks the key frame start code")
        width, height = struct.unpack("<HH", body[6:10])
        return _real_size(width & 0x3FFF, height & 0x3FFF)
    if kind == b"VP8L":
        if body[0] != 0x2F:
            raise NotAnImage("its VP8L chunk lacks the lossless signature byte")
        (bits,) = struct.unpack("<I", body[1:5])
        return _real_size((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if kind == b"VP8X":
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return _real_size(width, height)
    raise NotAnImage(f"its first WebP chunk is {kind!r}, not VP8, VP8L or VP8X")


def gif_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a GIF from its logical screen descriptor; the trailer byte shows it is whole."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 14:
        raise NotAnImage(f"does not start with a GIF87a or GIF89a header (first bytes {data[:6]!r})")
    if data[-1:] != b"\x3b":
        raise NotAnImage("has no GIF trailer at the end (the file is cut short)")
    width, height = struct.unpack("<HH", data[6:10])
    return _real_size(width, height)


def _real_size(width: int, height: int) -> tuple[int, int]:
    if not (width and height):
        raise NotAnImage(f"has an impossible size {width}x{height}")
    return width, height


_BY_TYPE = {"image/png": png_size, "image/jpeg": jpeg_size, "image/webp": webp_size, "image/gif": gif_size}
