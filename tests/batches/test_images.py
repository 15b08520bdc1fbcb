from __future__ import annotations

import struct
import zlib

import pytest

from worker.batches.images import NotAnImage, image_size, png_size

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, body: bytes, *, crc: int | None = None) -> bytes:
    """One PNG chunk, framed by hand from the specification: length, type, data, CRC of type + data."""
    if crc is None:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def ihdr(width: int, height: int, *, depth: int = 8, colour: int = 2, interlace: int = 0) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))


def rgb_rows(width: int, height: int) -> bytes:
    """Unfiltered 8-bit RGB rows: a filter byte 0, then three bytes per pixel."""

    def row(y: int) -> bytes:
        return b"\x00" + bytes(v for x in range(width) for v in (x * 40 % 256, y * 70 % 256, 128))

    return b"".join(row(y) for y in range(height))


def build_png(width: int = 3, height: int = 2) -> bytes:
    """A small, valid 8-bit RGB PNG, made without any project code."""
    image_data = chunk(b"IDAT", zlib.compress(rgb_rows(width, height)))
    return SIGNATURE + ihdr(width, height) + image_data + chunk(b"IEND", b"")


IEND = chunk(b"IEND", b"")
RGB_3X2 = zlib.compress(rgb_rows(3, 2))


def assemble(*parts: bytes) -> bytes:
    return SIGNATURE + b"".join(parts)


GOOD = {
    "rgb": (build_png(3, 2), (3, 2)),
    "wide rgb": (build_png(40, 1), (40, 1)),
    "rgba 1x1": (assemble(ihdr(1, 1, colour=6), chunk(b"IDAT", zlib.compress(b"\x00\x01\x02\x03\x04")), IEND), (1, 1)),
    # 9 one-bit pixels pack into 2 bytes per row.
    "1-bit grey": (
        assemble(ihdr(9, 2, depth=1, colour=0), chunk(b"IDAT", zlib.compress(b"\x00\xff\x80" * 2)), IEND),
        (9, 2),
    ),
    "palette": (
        assemble(
            ihdr(2, 1, colour=3),
            chunk(b"PLTE", b"\xff\x00\x00\x00\xff\x00"),
            chunk(b"IDAT", zlib.compress(b"\x00\x00\x01")),
            IEND,
        ),
        (2, 1),
    ),
    "idat split in two, with a text chunk before": (
        assemble(
            ihdr(3, 2), chunk(b"tEXt", b"Title\x00icon"), chunk(b"IDAT", RGB_3X2[:5]), chunk(b"IDAT", RGB_3X2[5:]), IEND
        ),
        (3, 2),
    ),
    # Adam7 on a 3x3 greyscale image: passes 1, 4, 5, 6, 7 hold 1x1, 1x1, 2x1, 1x2 and 3x1 pixels,
    # so the rows take 2 + 2 + 3 + 2*2 + 4 = 15 bytes with their filter bytes.
    "interlaced": (assemble(ihdr(3, 3, colour=0, interlace=1), chunk(b"IDAT", zlib.compress(bytes(15))), IEND), (3, 3)),
}


@pytest.mark.parametrize("data, size", GOOD.values(), ids=GOOD.keys())
def test_a_valid_png_gives_its_width_and_height(data, size):
    assert png_size(data) == size


def flip_crc(part: bytes) -> bytes:
    return part[:-4] + bytes(b ^ 0xFF for b in part[-4:])


GOOD_PNG = build_png(3, 2)
BROKEN = {
    "empty": (b"", "signature"),
    "html error page": (b"<html><body>Bad gateway</body></html>", "signature"),
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "signature"),
    "signature only": (SIGNATURE, "no chunks"),
    "bad signature": (b"\x89PNG\r\n\x1a\x0b" + GOOD_PNG[8:], "signature"),
    "bad IHDR CRC": (assemble(flip_crc(ihdr(3, 2)), chunk(b"IDAT", RGB_3X2), IEND), "IHDR.*CRC"),
    "bad IDAT CRC": (assemble(ihdr(3, 2), flip_crc(chunk(b"IDAT", RGB_3X2)), IEND), "IDAT.*CRC"),
    "IDAT first": (assemble(chunk(b"IDAT", RGB_3X2), ihdr(3, 2), IEND), "not IHDR"),
    "missing IEND": (assemble(ihdr(3, 2), chunk(b"IDAT", RGB_3X2)), "IEND"),
    "truncated in the middle": (GOOD_PNG[: len(GOOD_PNG) // 2], "cut short"),
    "truncated by one byte": (GOOD_PNG[:-1], "cut short"),
    "no IDAT": (assemble(ihdr(3, 2), IEND), "IDAT"),
    "stray bytes after IEND": (GOOD_PNG + b"junk", "after IEND"),
    "IEND with data": (assemble(ihdr(3, 2), chunk(b"IDAT", RGB_3X2), chunk(b"IEND", b"x")), "IEND"),
    "two IHDR": (assemble(ihdr(3, 2), ihdr(3, 2), chunk(b"IDAT", RGB_3X2), IEND), "more than one"),
    "zero width": (assemble(ihdr(0, 2), chunk(b"IDAT", RGB_3X2), IEND), "size"),
    "short IHDR": (assemble(chunk(b"IHDR", b"\x00" * 12), chunk(b"IDAT", RGB_3X2), IEND), "13"),
    "RGB at 4 bits": (assemble(ihdr(3, 2, depth=4), chunk(b"IDAT", RGB_3X2), IEND), "bit depth"),
    "palette without PLTE": (
        assemble(ihdr(2, 1, colour=3), chunk(b"IDAT", zlib.compress(b"\x00\x00\x01")), IEND),
        "PLTE",
    ),
    "IDAT chunks apart": (
        assemble(ihdr(3, 2), chunk(b"IDAT", RGB_3X2[:5]), chunk(b"tEXt", b"a\x00b"), chunk(b"IDAT", RGB_3X2[5:]), IEND),
        "follow one another",
    ),
    "IDAT not zlib": (assemble(ihdr(3, 2), chunk(b"IDAT", b"not compressed at all"), IEND), "zlib"),
    "one row of data missing": (
        assemble(ihdr(3, 2), chunk(b"IDAT", zlib.compress(rgb_rows(3, 1))), IEND),
        "inflates to 10 bytes",
    ),
    "one row of data too many": (
        assemble(ihdr(3, 2), chunk(b"IDAT", zlib.compress(rgb_rows(3, 3))), IEND),
        "more than",
    ),
    "zlib stream cut short": (assemble(ihdr(3, 2), chunk(b"IDAT", RGB_3X2[:-4]), IEND), "cut short"),
    "chunk type not letters": (assemble(ihdr(3, 2), chunk(b"ID4T", RGB_3X2), IEND), "invalid type"),
    "chunk length over the limit": (assemble(ihdr(3, 2), struct.pack(">I", 2**31) + b"IDAT" + RGB_3X2), "limit"),
}


@pytest.mark.parametrize("data, says", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_png_is_refused_with_a_reason(data, says):
    with pytest.raises(NotAnImage, match=says):
        png_size(data)


def test_not_an_image_is_a_value_error():
    with pytest.raises(ValueError):
        png_size(b"GIF89a")


def test_text_instead_of_bytes_is_refused():
    with pytest.raises(NotAnImage, match="bytes"):
        png_size("\x89PNG")  # type: ignore[arg-type]


# --- JPEG, WebP and GIF: built by hand from their specifications ------------------------------


def jpeg(width: int, height: int, *, sof: int = 0xC0, end: bytes = b"\xff\xd9") -> bytes:
    """SOI, a JFIF APP0 segment, a one-component frame header, then EOI: the parts a size check reads."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    frame = bytes([0xFF, sof]) + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    scan = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00" + b"\x12\x34"
    return b"\xff\xd8" + app0 + frame + scan + end


def riff_webp(chunk_kind: bytes, body: bytes) -> bytes:
    payload = b"WEBP" + chunk_kind + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def vp8(width: int, height: int) -> bytes:
    return riff_webp(b"VP8 ", b"\x10\x02\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + bytes(8))


def vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return riff_webp(b"VP8L", b"\x2f" + struct.pack("<I", bits) + bytes(8))


def vp8x(width: int, height: int) -> bytes:
    return riff_webp(b"VP8X", bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))


def gif(width: int, height: int, version: bytes = b"89a") -> bytes:
    return b"GIF" + version + struct.pack("<HHBBB", width, height, 0, 0, 0) + b"\x2c" + bytes(9) + b"\x3b"


GOOD_OTHERS = {
    "baseline jpeg": (jpeg(640, 480), "image/jpeg", (640, 480)),
    "progressive jpeg": (jpeg(33, 7, sof=0xC2), "image/jpeg", (33, 7)),
    "jpeg padded after EOI": (jpeg(8, 8) + b"\x00\x00", "image/jpeg", (8, 8)),
    "lossy webp": (vp8(300, 200), "image/webp", (300, 200)),
    "lossless webp": (vp8l(129, 65), "image/webp", (129, 65)),
    "extended webp": (vp8x(1024, 768), "image/webp", (1024, 768)),
    "gif89a": (gif(16, 9), "image/gif", (16, 9)),
    "gif87a": (gif(1, 2, b"87a"), "image/gif", (1, 2)),
    "png through image_size": (build_png(3, 2), "image/png", (3, 2)),
}


@pytest.mark.parametrize("data, mime_type, size", GOOD_OTHERS.values(), ids=GOOD_OTHERS.keys())
def test_a_valid_image_of_each_type_gives_its_width_and_height(data, mime_type, size):
    assert image_size(data, mime_type) == size


BROKEN_OTHERS = {
    "png sent as jpeg": (build_png(3, 2), "image/jpeg", "SOI"),
    "jpeg cut before EOI": (jpeg(8, 8)[:-2], "image/jpeg", "EOI"),
    "jpeg without a frame header": (b"\xff\xd8" + jpeg(8, 8)[2:20] + b"\xff\xd9", "image/jpeg", "start-of-frame"),
    "jpeg segment past the end": (b"\xff\xd8\xff\xe0\x40\x00JFIF\xff\xd9", "image/jpeg", "past the end"),
    "jpeg of zero width": (jpeg(0, 8), "image/jpeg", "impossible size"),
    "webp cut short": (vp8(300, 200)[:-3], "image/webp", "RIFF header says"),
    "riff that is not webp": (b"RIFF" + struct.pack("<I", 26) + b"WAVE" + bytes(22), "image/webp", "RIFF/WEBP"),
    "webp without key frame code": (riff_webp(b"VP8 ", bytes(18)), "image/webp", "start code"),
    "webp lossless without signature": (riff_webp(b"VP8L", bytes(13)), "image/webp", "signature byte"),
    "webp with an unknown first chunk": (riff_webp(b"ALPH", bytes(18)), "image/webp", "not VP8"),
    "gif without trailer": (gif(16, 9)[:-1], "image/gif", "trailer"),
    "gif with a bad header": (b"GIF90a" + gif(16, 9)[6:], "image/gif", "header"),
    "gif of zero height": (gif(16, 0), "image/gif", "impossible size"),
    "a type that is not an image": (b"RIFF", "audio/wav", "not an image type"),
}


@pytest.mark.parametrize("data, mime_type, says", BROKEN_OTHERS.values(), ids=BROKEN_OTHERS.keys())
def test_a_broken_image_of_each_type_is_refused_with_a_reason(data, mime_type, says):
    with pytest.raises(NotAnImage, match=says):
        image_size(data, mime_type)
