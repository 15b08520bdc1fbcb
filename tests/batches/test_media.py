from __future__ import annotations

import struct

import pytest

from tests.batches.test_images import build_png, jpeg
from worker.batches.images import NotAnImage
from worker.batches.media import NotTheMedia, check_asset, extension_for


@pytest.mark.parametrize(
    "mime_type, ext",
    [
        ("image/png", "png"),
        ("image/jpeg", "jpg"),
        ("image/webp", "webp"),
        ("image/gif", "gif"),
        ("video/mp4", "mp4"),
        ("video/webm", "webm"),
        ("audio/wav", "wav"),
        ("audio/x-wav", "wav"),
        ("audio/wave", "wav"),
        ("audio/mpeg", "mp3"),
        ("audio/ogg", "ogg"),
        ("model/gltf-binary", "glb"),
        ("model/gltf+json", "gltf"),
        ("model/obj", "obj"),
        ("application/octet-stream", "bin"),
        ("Image/PNG; charset=binary", "png"),
        ("image/svg+xml", "svg"),
        ("audio/x-flac", "flac"),
        ("model/../../etc", "etc"),
        ("application/+++", "bin"),
        ("nonsense", "bin"),
    ],
)
def test_a_file_gets_the_extension_of_its_mime_type(mime_type, ext):
    assert extension_for(mime_type) == ext


def wav(frames: bytes = bytes(8)) -> bytes:
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8)
    body = b"WAVE" + fmt + b"data" + struct.pack("<I", len(frames)) + frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def glb(*, claimed: int | None = None) -> bytes:
    chunk = struct.pack("<II", 4, 0x4E4F534A) + b"{}  "
    total = 12 + len(chunk)
    return b"glTF" + struct.pack("<II", 2, total if claimed is None else claimed) + chunk


def mp4() -> bytes:
    return struct.pack(">I", 20) + b"ftypisom" + struct.pack(">I", 512) + b"isom"


GOOD = {
    "wav": (wav(), "audio/wav", {"size": len(wav())}),
    "x-wav without a size": (wav(), "audio/x-wav", {}),
    "glb": (glb(), "model/gltf-binary", {"size": len(glb())}),
    "mp4": (mp4(), "video/mp4", {"size": 20}),
    "mp3, no signature known": (b"ID3\x03anything", "audio/mpeg", {"size": 12}),
    "an unknown type of the right size": (b"abc", "application/x-thing", {"size": 3}),
}


@pytest.mark.parametrize("data, mime_type, properties", GOOD.values(), ids=GOOD.keys())
def test_a_non_image_of_the_reported_length_and_signature_is_accepted_with_no_size(data, mime_type, properties):
    assert check_asset(data, mime_type, properties) is None


BROKEN = {
    "wav a byte short": (wav()[:-1], "audio/wav", {"size": len(wav())}, "bytes, not the"),
    "html page as wav": (b"<html>busy</html>", "audio/wav", {}, "RIFF/WAVE"),
    "webp as wav": (b"RIFF\x04\x00\x00\x00WEBP", "audio/wave", {}, "RIFF/WAVE"),
    "glb with the wrong length field": (glb(claimed=99), "model/gltf-binary", {}, "says 99 bytes"),
    "json as glb": (b'{"asset": {}}', "model/gltf-binary", {}, "magic"),
    "mp4 without ftyp": (bytes(4) + b"moov" + bytes(8), "video/mp4", {}, "ftyp"),
    "unknown type of the wrong size": (b"abcd", "application/x-thing", {"size": 3}, "4 bytes, not the 3"),
}


@pytest.mark.parametrize("data, mime_type, properties, says", BROKEN.values(), ids=BROKEN.keys())
def test_a_non_image_that_is_not_what_scenario_describes_is_refused(data, mime_type, properties, says):
    with pytest.raises(NotTheMedia, match=says):
        check_asset(data, mime_type, properties)


@pytest.mark.parametrize(
    "data, mime_type, properties, fallback, size",
    [
        (build_png(3, 2), "image/png", {"width": 3, "height": 2}, (512, 512), (3, 2)),
        (build_png(3, 2), "image/png", {"size": 1}, (3, 2), (3, 2)),
        (build_png(3, 2), "image/png", {}, None, (3, 2)),
        (jpeg(64, 32), "image/jpeg", {"width": 64, "height": 32}, None, (64, 32)),
    ],
    ids=["reported size wins", "job size when scenario does not say", "no size to compare", "jpeg"],
)
def test_an_image_is_checked_at_the_size_scenario_reports_or_else_the_jobs(data, mime_type, properties, fallback, size):
    assert check_asset(data, mime_type, properties, fallback) == size


@pytest.mark.parametrize(
    "properties, fallback",
    [({"width": 2, "height": 3}, (3, 2)), ({}, (2, 3)), ({"width": True, "height": 2}, (2, 3))],
    ids=["swapped reported size", "swapped job size", "a reported size that is not a number"],
)
def test_an_image_of_another_size_than_expected_is_refused(properties, fallback):
    with pytest.raises(NotAnImage, match="3x2, not the 2x3"):
        check_asset(build_png(3, 2), "image/png", properties, fallback)
