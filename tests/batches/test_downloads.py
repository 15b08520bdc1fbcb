from __future__ import annotations

import hashlib
import os
import pickle
import struct
import time
from collections.abc import Iterator
from dataclasses import asdict
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.batches.test_images import build_png, chunk
from tests.scenario.canned import Canned
from worker.batches.downloads import (
    AssetInfo,
    DownloadError,
    download_item,
    file_names,
    resolve_assets,
    write_atomically,
)
from worker.batches.images import NotAnImage
from worker.scenario.client import ScenarioClient
from worker.scenario.errors import ServerError
from worker.simulator import Simulator, SimulatorConfig

WIDTH, HEIGHT = 128, 136  # not square, so a swapped width and height shows


def finished_assets(client: ScenarioClient, *, samples: int, prompt: str = "an iron sword icon") -> list[str]:
    """The asset ids of a new txt2img job, once Scenario (the simulator) says it succeeded."""
    job = client.generate(
        {"modelId": "flux.1-schnell", "prompt": prompt, "numSamples": samples, "width": WIDTH, "height": HEIGHT}
    )
    deadline = time.monotonic() + 10
    while job["status"] != "success":
        assert time.monotonic() < deadline, f"job still {job['status']}"
        time.sleep(0.05)
        job = client.get_job(job["jobId"])
    return job["metadata"]["assetIds"]


def downloads(sim: Simulator) -> dict[str, int]:
    return sim.stats()["requests"].get("download", {})


def calls(sim: Simulator, endpoint: str) -> int:
    return sum(sim.stats()["requests"].get(endpoint, {}).values())


def header_size(data: bytes) -> tuple[int, int]:
    """Width and height straight from the IHDR bytes, read without the code under test."""
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(api_key="k", api_secret="s", job_duration_s=0.3), port=0) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def client(sim) -> Iterator[ScenarioClient]:
    with ScenarioClient(sim.api_url, "k", "s", connect_timeout_s=2.0, read_timeout_s=5.0) as c:
        yield c


@pytest.fixture(scope="module")
def two_assets(client) -> list[str]:
    return finished_assets(client, samples=2)


@pytest.fixture(autouse=True)
def _fresh_simulator_state(request) -> Iterator[None]:
    if "sim" in request.fixturenames:
        sim = request.getfixturevalue("sim")
        sim.reset_stats()
        yield
        sim.faults.clear()
    else:
        yield


# --- names and atomic writes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "count, names",
    [
        (1, ["sword.png"]),
        (2, ["sword_1.png", "sword_2.png"]),
        (3, ["sword_1.png", "sword_2.png", "sword_3.png"]),
    ],
)
def test_file_names_are_numbered_only_when_there_are_several(count, names):
    assert file_names("sword", count) == names


def test_file_names_refuse_zero_images():
    with pytest.raises(ValueError):
        file_names("sword", 0)


def test_write_atomically_writes_or_replaces_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a.png"
    write_atomically(target, b"first")
    write_atomically(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["a.png"]


def test_write_atomically_cleans_its_temp_file_when_the_rename_fails(tmp_path):
    (tmp_path / "taken").mkdir()  # a folder cannot be replaced by a file
    with pytest.raises(OSError):
        write_atomically(tmp_path / "taken", b"data")
    assert os.listdir(tmp_path) == ["taken"]
    assert os.listdir(tmp_path / "taken") == []


# --- downloading from the simulator ---------------------------------------------------------


def test_a_job_with_two_samples_downloads_to_numbered_pngs_of_the_requested_size(sim, client, two_assets, tmp_path):
    out = tmp_path / "new" / "folder"
    records = download_item(client, item_name="sword", asset_ids=two_assets, out_dir=out, expected_size=(WIDTH, HEIGHT))
    assert [r.file for r in records] == ["sword_1.png", "sword_2.png"]
    assert [r.asset_id for r in records] == two_assets
    assert sorted(os.listdir(out)) == ["sword_1.png", "sword_2.png"]
    for record in records:
        data = (out / record.file).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert header_size(data) == (WIDTH, HEIGHT) == (record.width, record.height)
        assert record.bytes == len(data)
        assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert downloads(sim) == {"200": 2}


def test_a_job_with_one_sample_downloads_to_the_item_name(client, tmp_path):
    (asset,) = finished_assets(client, samples=1, prompt="a red potion")
    records = download_item(client, item_name="potion.red_v2", asset_ids=[asset], out_dir=tmp_path)
    assert [r.file for r in records] == ["potion.red_v2.png"]
    assert os.listdir(tmp_path) == ["potion.red_v2.png"]


def test_downloading_again_keeps_the_files_without_fetching_them_again(sim, client, two_assets, tmp_path):
    first = download_item(client, item_name="sword", asset_ids=two_assets, out_dir=tmp_path)
    inodes = [os.stat(tmp_path / r.file).st_ino for r in first]
    second = download_item(
        client,
        item_name="sword",
        asset_ids=two_assets,
        out_dir=tmp_path,
        expected_size=(WIDTH, HEIGHT),
        recorded=[asdict(r) for r in first],
    )
    assert second == first
    assert [os.stat(tmp_path / r.file).st_ino for r in second] == inodes
    assert downloads(sim) == {"200": 2}
    assert calls(sim, "get_assets_bulk") == 1


@pytest.mark.parametrize(
    "left_behind",
    [b"half a file", build_png(3, 2)],
    ids=["not a png", "a png of another size"],
)
def test_a_file_already_there_but_not_the_right_image_is_downloaded_again(
    sim, client, two_assets, tmp_path, left_behind
):
    first = download_item(client, item_name="sword", asset_ids=two_assets, out_dir=tmp_path)
    (tmp_path / "sword_1.png").write_bytes(left_behind)
    sim.reset_stats()
    records = download_item(
        client,
        item_name="sword",
        asset_ids=two_assets,
        out_dir=tmp_path,
        expected_size=(WIDTH, HEIGHT),
        recorded=[asdict(r) for r in first],
    )
    assert header_size((tmp_path / "sword_1.png").read_bytes()) == (WIDTH, HEIGHT)
    assert [r.file for r in records] == ["sword_1.png", "sword_2.png"]
    assert downloads(sim) == {"200": 1}


def test_assets_resolved_by_the_caller_are_used_as_given(sim, client, two_assets, tmp_path):
    assets = resolve_assets(client, two_assets)
    assert sorted(assets) == sorted(two_assets)
    assert {(a.mime_type, a.properties["width"], a.properties["height"]) for a in assets.values()} == {
        ("image/png", WIDTH, HEIGHT)
    }
    sim.reset_stats()
    download_item(client, item_name="sword", asset_ids=two_assets, out_dir=tmp_path, assets=assets)
    assert calls(sim, "get_assets_bulk") == calls(sim, "get_asset") == 0
    assert downloads(sim) == {"200": 2}


def test_a_403_on_download_resolves_that_asset_again_once_and_succeeds(sim, client, two_assets, tmp_path):
    sim.faults.add_rule(endpoint="download", status=403, times=1)
    records = download_item(client, item_name="sword", asset_ids=two_assets, out_dir=tmp_path)
    assert len(records) == 2
    assert downloads(sim) == {"403": 1, "200": 2}
    assert calls(sim, "get_asset") == 1


def test_an_expired_signed_url_is_resolved_again_and_succeeds(tmp_path):
    config = SimulatorConfig(api_key="k", api_secret="s", job_duration_s=0.2, asset_url_ttl_s=0.5)
    with Simulator(config, port=0) as sim, ScenarioClient(sim.api_url, "k", "s") as client:
        (asset,) = finished_assets(client, samples=1)
        assets = resolve_assets(client, [asset])
        expires_ms = int(parse_qs(urlsplit(assets[asset].url).query)["expires"][0])
        time.sleep(max(0.0, expires_ms / 1000 - time.time()) + 0.05)
        records = download_item(client, item_name="shield", asset_ids=[asset], out_dir=tmp_path, assets=assets)
        assert [r.file for r in records] == ["shield.png"]
        assert downloads(sim) == {"403": 1, "200": 1}
        assert calls(sim, "get_asset") == 1


def test_a_second_403_raises_naming_the_item_and_the_asset(sim, client, two_assets, tmp_path):
    sim.faults.add_rule(endpoint="download", status=403, times=2)
    with pytest.raises(DownloadError) as caught:
        download_item(client, item_name="sword", asset_ids=two_assets, out_dir=tmp_path)
    error = caught.value
    assert (error.item_name, error.asset_id) == ("sword", two_assets[0])
    assert "sword" in str(error) and two_assets[0] in str(error)
    assert not error.retryable
    assert os.listdir(tmp_path) == []
    assert calls(sim, "get_asset") == 1


def test_a_server_error_on_download_is_a_retryable_download_error(sim, client, two_assets, tmp_path):
    sim.faults.add_rule(endpoint="download", status=503, times=1)
    with pytest.raises(DownloadError) as caught:
        download_item(client, item_name="sword", asset_ids=two_assets, out_dir=tmp_path)
    assert isinstance(caught.value.cause, ServerError)
    assert caught.value.retryable
    assert os.listdir(tmp_path) == []


def test_the_size_scenario_reports_for_the_asset_wins_over_the_size_the_job_asked(client, two_assets, tmp_path):
    records = download_item(client, item_name="sword", asset_ids=two_assets, out_dir=tmp_path, expected_size=(256, 256))
    assert [(r.width, r.height) for r in records] == [(WIDTH, HEIGHT)] * 2


def test_resolve_assets_names_an_id_scenario_did_not_return(client, two_assets):
    with pytest.raises(DownloadError) as caught:
        resolve_assets(client, [*two_assets, "asset_nobodyknowsthis"])
    assert caught.value.asset_id == "asset_nobodyknowsthis"
    assert "did not return" in str(caught.value)


def test_an_unknown_asset_in_an_item_raises_naming_the_item(client, tmp_path):
    with pytest.raises(DownloadError) as caught:
        download_item(client, item_name="axe", asset_ids=["asset_nobodyknowsthis"], out_dir=tmp_path)
    assert (caught.value.item_name, caught.value.asset_id) == ("axe", "asset_nobodyknowsthis")


# --- answers the simulator never gives --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"<html><body>502 Bad Gateway</body></html>", build_png(WIDTH, HEIGHT)[:-20]],
    ids=["an html page", "a truncated png"],
)
def test_a_download_that_is_not_a_whole_png_raises_and_leaves_no_file(canned, canned_client, tmp_path, body):
    canned.answer(Canned(status=200, body=body, headers={"Content-Type": "image/png"}))
    with pytest.raises(DownloadError) as caught:
        download_item(
            canned_client,
            item_name="sword",
            asset_ids=["asset_1"],
            out_dir=tmp_path,
            assets={"asset_1": AssetInfo(f"{canned.url}/files/asset_1.png", "image/png")},
        )
    assert isinstance(caught.value.cause, NotAnImage)
    assert not caught.value.retryable
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("status, retryable", [("pending", True), ("error", False)])
def test_resolve_assets_refuses_an_asset_that_is_not_ready(canned, canned_client, status, retryable):
    asset = {"id": "asset_1", "status": status, "url": f"{canned.url}/files/asset_1.png", "mimeType": "image/png"}
    canned.answer(Canned(status=200, body={"assets": [asset]}))
    with pytest.raises(DownloadError, match=f"status is '{status}'") as caught:
        resolve_assets(canned_client, ["asset_1"])
    assert caught.value.asset_id == "asset_1"
    assert caught.value.retryable is retryable


@pytest.mark.parametrize("name", ["../escape", "sub/dir", "/etc/escape", "back\\slash"])
def test_a_name_that_would_leave_the_folder_is_refused_before_any_request(canned, canned_client, tmp_path, name):
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="refusing"):
        download_item(canned_client, item_name=name, asset_ids=["asset_1"], out_dir=out)
    assert canned.seen == []
    assert os.listdir(tmp_path) == []


def test_a_file_name_that_is_a_symlink_out_of_the_folder_is_refused(canned, canned_client, tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sword.png").symlink_to(outside)
    with pytest.raises(DownloadError, match="refusing"):
        download_item(canned_client, item_name="sword", asset_ids=["asset_1"], out_dir=out)
    assert outside.read_bytes() == b"keep me"
    assert canned.seen == []


def test_a_download_error_keeps_its_fields_through_pickling():
    error = DownloadError("sword", "asset_1", ServerError("busy", status=503))
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.item_name, copy.asset_id, copy.retryable, str(copy)) == ("sword", "asset_1", True, str(error))
    assert isinstance(copy.cause, ServerError)


# --- any kind of output, and files kept only when their record vouches for them ---------------


def wav_bytes() -> bytes:
    body = b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8) + b"data\x04\x00\x00\x00abcd"
    return b"RIFF" + struct.pack("<I", len(body)) + body


def asset_json(canned, asset_id: str, mime_type: str, properties: dict) -> dict:
    return {
        "id": asset_id,
        "status": "success",
        "url": f"{canned.url}/files/{asset_id}",
        "mimeType": mime_type,
        "properties": properties,
    }


def test_an_audio_asset_is_saved_as_wav_and_recorded_with_its_type_and_no_size(canned, canned_client, tmp_path):
    data = wav_bytes()
    canned.answer(
        Canned(body={"assets": [asset_json(canned, "asset_a", "audio/x-wav", {"size": len(data)})]}),
        Canned(body=data, headers={"Content-Type": "audio/wav"}),
    )
    [record] = download_item(canned_client, item_name="theme", asset_ids=["asset_a"], out_dir=tmp_path)
    assert (record.file, record.mime_type, record.width, record.height) == ("theme.wav", "audio/x-wav", None, None)
    assert (tmp_path / "theme.wav").read_bytes() == data
    assert os.listdir(tmp_path) == ["theme.wav"]


def test_a_3d_asset_shorter_than_scenario_reports_is_refused_naming_item_and_asset(canned, canned_client, tmp_path):
    glb = b"glTF" + struct.pack("<II", 2, 12)
    canned.answer(
        Canned(body={"assets": [asset_json(canned, "asset_m", "model/gltf-binary", {"size": 40})]}),
        Canned(body=glb),
    )
    with pytest.raises(DownloadError) as caught:
        download_item(canned_client, item_name="chest", asset_ids=["asset_m"], out_dir=tmp_path)
    assert (caught.value.item_name, caught.value.asset_id, caught.value.retryable) == ("chest", "asset_m", False)
    assert os.listdir(tmp_path) == []


def test_an_image_of_another_size_than_scenario_reports_raises_and_leaves_no_file(canned, canned_client, tmp_path):
    canned.answer(
        Canned(body={"assets": [asset_json(canned, "asset_1", "image/png", {"width": 256, "height": 256})]}),
        Canned(body=build_png(3, 2)),
    )
    with pytest.raises(DownloadError, match="3x2, not the 256x256"):
        download_item(canned_client, item_name="sword", asset_ids=["asset_1"], out_dir=tmp_path, expected_size=(3, 2))
    assert os.listdir(tmp_path) == []


def recorded(name: str, asset_id: str, data: bytes, mime_type: str = "image/png") -> dict:
    return {"file": name, "asset_id": asset_id, "sha256": hashlib.sha256(data).hexdigest(), "mime_type": mime_type}


def test_a_file_matching_its_record_is_kept_without_any_request(canned, canned_client, tmp_path):
    data = wav_bytes()
    (tmp_path / "theme.wav").write_bytes(data)
    [record] = download_item(
        canned_client,
        item_name="theme",
        asset_ids=["asset_a"],
        out_dir=tmp_path,
        recorded=[recorded("theme.wav", "asset_a", data, "audio/wav")],
    )
    assert canned.seen == []
    assert (record.file, record.mime_type, record.bytes) == ("theme.wav", "audio/wav", len(data))


def png_with_text(text: bytes) -> bytes:
    """A valid 3x2 PNG whose bytes differ by a text chunk: the same size, another sha256."""
    plain = build_png(3, 2)
    return plain[:33] + chunk(b"tEXt", b"Comment\x00" + text) + plain[33:]


def test_a_valid_image_of_the_right_size_with_another_sha256_than_recorded_is_replaced(canned, canned_client, tmp_path):
    on_disk, recorded_bytes, served = png_with_text(b"edited by hand"), png_with_text(b"v1"), png_with_text(b"v1")
    (tmp_path / "sword.png").write_bytes(on_disk)
    canned.answer(
        Canned(body={"assets": [asset_json(canned, "asset_1", "image/png", {"width": 3, "height": 2})]}),
        Canned(body=served),
    )
    [record] = download_item(
        canned_client,
        item_name="sword",
        asset_ids=["asset_1"],
        out_dir=tmp_path,
        recorded=[recorded("sword.png", "asset_1", recorded_bytes)],
    )
    assert [s.path.rsplit("/", 1)[-1] for s in canned.seen] == ["get-bulk", "asset_1"]
    assert (tmp_path / "sword.png").read_bytes() == served
    assert record.sha256 == hashlib.sha256(served).hexdigest()


def test_a_new_version_with_fewer_files_replaces_and_removes_the_old_ones_but_not_another_items(
    canned, canned_client, tmp_path
):
    old_1, old_2, other = png_with_text(b"old 1"), png_with_text(b"old 2"), png_with_text(b"shield")
    (tmp_path / "sword_1.png").write_bytes(old_1)
    (tmp_path / "sword_2.png").write_bytes(old_2)
    (tmp_path / "shield.png").write_bytes(other)
    # A file the old version recorded but that another item has written since: no longer this item's.
    (tmp_path / "sword_3.png").write_bytes(png_with_text(b"written by item sword_3"))
    history = [
        recorded("sword_1.png", "asset_old1", old_1),
        recorded("sword_2.png", "asset_old2", old_2),
        recorded("sword_3.png", "asset_old3", png_with_text(b"old 3")),
    ]
    new = png_with_text(b"new")
    canned.answer(
        Canned(body={"assets": [asset_json(canned, "asset_new", "image/png", {"width": 3, "height": 2})]}),
        Canned(body=new),
    )
    [record] = download_item(
        canned_client, item_name="sword", asset_ids=["asset_new"], out_dir=tmp_path, recorded=history
    )
    assert record.file == "sword.png"
    assert sorted(os.listdir(tmp_path)) == ["shield.png", "sword.png", "sword_3.png"]
    assert (tmp_path / "shield.png").read_bytes() == other


def test_a_new_version_of_another_type_replaces_the_old_file_of_the_item(canned, canned_client, tmp_path):
    old = png_with_text(b"old")
    (tmp_path / "theme.png").write_bytes(old)
    data = wav_bytes()
    canned.answer(
        Canned(body={"assets": [asset_json(canned, "asset_a", "audio/wav", {"size": len(data)})]}),
        Canned(body=data),
    )
    download_item(
        canned_client,
        item_name="theme",
        asset_ids=["asset_a"],
        out_dir=tmp_path,
        recorded=[recorded("theme.png", "asset_png", old)],
    )
    assert os.listdir(tmp_path) == ["theme.wav"]


def test_a_failed_download_of_the_new_version_leaves_the_old_files(canned, canned_client, tmp_path):
    old = png_with_text(b"old")
    (tmp_path / "sword_1.png").write_bytes(old)
    canned.answer(
        Canned(body={"assets": [asset_json(canned, "asset_new", "image/png", {})]}),
        Canned(body=b"<html>bad gateway</html>"),
    )
    with pytest.raises(DownloadError):
        download_item(
            canned_client,
            item_name="sword",
            asset_ids=["asset_new"],
            out_dir=tmp_path,
            recorded=[recorded("sword_1.png", "asset_old", old)],
        )
    assert os.listdir(tmp_path) == ["sword_1.png"]
