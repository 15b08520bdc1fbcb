"""POST /assets: images sent as data URLs become assets that can be downloaded and used as inputs."""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import replace

import pytest
import requests

from tests.simulator.helpers import ApiClient, png_data_url, read_png
from worker.simulator.png import make_png


def tiny_jpeg(width: int, height: int) -> bytes:
    """The header of a baseline JPEG: SOI, an APP0, then a start-of-frame carrying the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def test_an_uploaded_png_becomes_an_asset_with_its_size_read_from_the_header(api: ApiClient) -> None:
    response = api.post("/assets", {"name": "ref.png", "image": png_data_url(40, 24)})
    assert response.status_code == 200, response.text
    asset = response.json()["asset"]
    assert asset["id"].startswith("asset_")
    assert (asset["mimeType"], asset["kind"], asset["source"], asset["status"]) == (
        "image/png",
        "image",
        "uploaded",
        "success",
    )
    assert asset["properties"] == {"size": len(make_png(40, 24)), "width": 40, "height": 24}
    assert api.get(f"/assets/{asset['id']}").json()["asset"]["id"] == asset["id"]
    download = requests.get(asset["url"], timeout=5)
    assert download.status_code == 200 and download.headers["Content-Type"] == "image/png"
    assert read_png(download.content)[:2] == (40, 24)


def test_an_uploaded_jpeg_keeps_its_type_and_size(api: ApiClient) -> None:
    data = tiny_jpeg(300, 200)
    image = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    asset = api.post("/assets", {"name": "photo.jpg", "image": image}).json()["asset"]
    assert asset["mimeType"] == "image/jpeg"
    assert (asset["properties"]["width"], asset["properties"]["height"]) == (300, 200)
    assert ".jpg?" in asset["url"]
    assert requests.get(asset["url"], timeout=5).content == data


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"name": "x.png"}, '"image" is required'),
        ({"name": "x.png", "image": "http://example.com/x.png"}, '"image" must be a data URL'),
        ({"name": "x.png", "image": "data:image/png;base64,@@@"}, '"image" is not valid base64'),
        ({"name": "x.png", "image": "data:image/png;base64," + base64.b64encode(b"hello").decode()}, "not a PNG"),
        ({"name": "x.png", "image": 5}, '"image" must be a data URL string'),
        ({"name": "", "image": "data:image/png;base64,"}, '"name"'),
        ({"name": "x", "image": "data:,", "tags": []}, '"tags" is not allowed'),
    ],
)
def test_a_bad_upload_is_a_400_naming_the_field(shared_api: ApiClient, body, named: str) -> None:
    response = shared_api.post("/assets", body)
    assert response.status_code == 400
    assert named in response.json()["message"]


def test_an_upload_over_the_limit_is_a_413(start_simulator) -> None:
    api = ApiClient(start_simulator(max_upload_bytes=1000).api_url)
    small, big = png_data_url(8, 8), png_data_url(2048, 2048)
    assert api.post("/assets", {"name": "a.png", "image": small}).status_code == 200
    assert len(make_png(2048, 2048)) > 1000
    response = api.post("/assets", {"name": "b.png", "image": big})
    assert response.status_code == 413
    assert '"image"' in response.json()["message"]


def test_stats_count_uploads_by_content(sim, api: ApiClient) -> None:
    for palette in (0, 0, 1):
        assert api.post("/assets", {"name": "r.png", "image": png_data_url(8, 8, palette)}).status_code == 200
    stats = sim.stats()
    assert stats["uploads"] == 3
    assert stats["uploads_by_sha256"] == {
        hashlib.sha256(make_png(8, 8, 0)).hexdigest(): 2,
        hashlib.sha256(make_png(8, 8, 1)).hexdigest(): 1,
    }


def test_another_keys_upload_is_not_visible(start_simulator) -> None:
    sim = start_simulator()
    mine = ApiClient(sim.api_url)
    asset_id = mine.post("/assets", {"name": "r.png", "image": png_data_url(8, 8)}).json()["asset"]["id"]
    # White-box: hand the upload to another team, as if that team had sent it.
    sim.world.add_upload(replace(sim.world.upload(asset_id), owner_id="team_someone_else"))
    assert mine.get(f"/assets/{asset_id}").status_code == 404
    refused = mine.post("/generate/custom/model_upscale", {"image": asset_id})
    assert refused.status_code == 400 and '"image"' in refused.json()["message"]
