"""Assets, their signed downloads, and models, over HTTP."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests

from tests.simulator.helpers import ApiClient, read_png

ASSET_FIELDS = {
    "id",
    "url",
    "mimeType",
    "kind",
    "status",
    "source",
    "metadata",
    "properties",
    "privacy",
    "tags",
    "collectionIds",
    "editCapabilities",
    "authorId",
    "ownerId",
    "createdAt",
    "updatedAt",
}
MODEL_FIELDS = {
    "id",
    "type",
    "status",
    "capabilities",
    "source",
    "privacy",
    "custom",
    "tags",
    "collectionIds",
    "exampleAssetIds",
    "trainingImagesNumber",
    "createdAt",
    "updatedAt",
}


def finished_assets(api: ApiClient, **fields) -> list[str]:
    final, _ = api.wait_final(api.submit_job(**fields)["jobId"])
    assert final["status"] == "success"
    return final["metadata"]["assetIds"]


def test_an_asset_has_every_field_of_the_contract(api: ApiClient) -> None:
    [asset_id] = finished_assets(api, prompt="a red fox", width=256, height=128)
    response = api.get(f"/assets/{asset_id}")
    assert response.status_code == 200
    asset = response.json()["asset"]
    assert ASSET_FIELDS <= asset.keys()
    assert asset["id"] == asset_id
    assert (asset["mimeType"], asset["kind"], asset["status"], asset["source"]) == (
        "image/png",
        "image",
        "success",
        "txt2img",
    )
    assert asset["metadata"]["kind"] == "image" and asset["metadata"]["type"] == "inference-txt2img"
    assert asset["metadata"]["prompt"] == "a red fox"
    assert asset["properties"]["width"] == 256 and asset["properties"]["height"] == 128
    assert asset["privacy"] == "private"
    for name in ("tags", "collectionIds", "editCapabilities"):
        assert isinstance(asset[name], list)
    assert re.search(r"/_files/.+\.png\?expires=\d+&signature=[0-9a-f]{64}$", asset["url"])


def test_the_download_is_a_valid_png_of_the_requested_size_without_basic_auth(api: ApiClient) -> None:
    [asset_id] = finished_assets(api, width=256, height=128)
    asset = api.get(f"/assets/{asset_id}").json()["asset"]
    download = requests.get(asset["url"], timeout=5)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "image/png"
    width, height, raw = read_png(download.content)
    assert (width, height) == (256, 128)
    assert len(raw) == height * (1 + width * 3)
    assert asset["properties"]["size"] == len(download.content)
    head = requests.head(asset["url"], timeout=5)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(download.content))


def test_a_download_url_expires_and_a_fresh_one_works(start_simulator) -> None:
    api = ApiClient(start_simulator(asset_url_ttl_s=0.5).api_url)
    [asset_id] = finished_assets(api, width=128, height=128)
    url = api.get(f"/assets/{asset_id}").json()["asset"]["url"]
    assert requests.get(url, timeout=5).status_code == 200
    time.sleep(0.6)
    expired = requests.get(url, timeout=5)
    assert expired.status_code == 403
    assert expired.json()["code"] == "FORBIDDEN" and "expired" in expired.json()["message"]
    fresh = api.get(f"/assets/{asset_id}").json()["asset"]["url"]
    assert requests.get(fresh, timeout=5).status_code == 200


@pytest.mark.parametrize("tamper", ["signature", "expires", "drop-signature"])
def test_a_tampered_download_url_is_a_403(api: ApiClient, tamper: str) -> None:
    [asset_id] = finished_assets(api, width=128, height=128)
    parts = urlsplit(api.get(f"/assets/{asset_id}").json()["asset"]["url"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if tamper == "signature":
        query["signature"] = "0" * 64
    elif tamper == "expires":
        query["expires"] = str(int(query["expires"]) + 1000)
    else:
        del query["signature"]
    url = urlunsplit(parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())))
    assert requests.get(url, timeout=5).status_code == 403


def test_an_asset_does_not_exist_until_its_job_succeeds(sim, api: ApiClient) -> None:
    job = api.submit_job()
    # White-box: the id is fixed at creation, though the API shows it only on success.
    [asset_id] = sim.world.job(job["jobId"]).asset_ids
    assert api.get(f"/assets/{asset_id}").status_code == 404
    assert api.post("/assets/get-bulk", {"assetIds": [asset_id]}).json() == {"assets": []}
    api.wait_final(job["jobId"])
    assert api.get(f"/assets/{asset_id}").status_code == 200


def test_an_unknown_asset_is_a_404(shared_api: ApiClient) -> None:
    response = shared_api.get("/assets/asset_unknown")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_get_bulk_answers_the_known_assets_in_order(api: ApiClient) -> None:
    ids = finished_assets(api, numSamples=3, width=128, height=128)
    response = api.post("/assets/get-bulk", {"assetIds": [ids[2], "asset_unknown", ids[0]]})
    assert response.status_code == 200
    assets = response.json()["assets"]
    assert [a["id"] for a in assets] == [ids[2], ids[0]]
    assert all(ASSET_FIELDS <= a.keys() for a in assets)


@pytest.mark.parametrize(
    "body",
    [{"assetIds": [f"asset_{i}" for i in range(201)]}, {"assetIds": "asset_1"}, {"assetIds": [1]}, {}, {"ids": []}],
)
def test_a_bad_get_bulk_body_is_a_400(shared_api: ApiClient, body) -> None:
    response = shared_api.post("/assets/get-bulk", body)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PARAMETER"


def test_two_hundred_assets_is_the_most_get_bulk_takes(shared_api: ApiClient) -> None:
    response = shared_api.post("/assets/get-bulk", {"assetIds": [f"asset_{i}" for i in range(200)]})
    assert response.status_code == 200
    assert response.json() == {"assets": []}


@pytest.mark.parametrize(
    ("model_id", "custom"), [("flux.1-dev", False), ("flux.1-schnell", False), ("model_scenario-game-icons", True)]
)
def test_a_model_has_every_field_of_the_contract(shared_api: ApiClient, model_id: str, custom: bool) -> None:
    response = shared_api.get(f"/models/{model_id}")
    assert response.status_code == 200
    model = response.json()["model"]
    assert MODEL_FIELDS <= model.keys()
    assert model["id"] == model_id
    assert model["status"] == "trained"
    assert "txt2img" in model["capabilities"]
    assert model["custom"] is custom


def test_an_unknown_model_is_a_404_and_another_teams_a_403(shared_api: ApiClient) -> None:
    assert shared_api.get("/models/no-such-model").status_code == 404
    forbidden = shared_api.get("/models/model_private-other-team")
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "FORBIDDEN"
