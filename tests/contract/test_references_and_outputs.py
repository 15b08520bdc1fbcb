"""Reference images uploaded once for a whole library, and outputs of every kind kept as what they are."""

from __future__ import annotations

import json

import pytest

from tests.batches.test_batch_runs import wait_for_batch
from tests.conftest import ON_POSTGRES
from worker.batches.manifest import load_manifest
from worker.batches.runs import batch_progress, export_batch, submit_batch
from worker.simulator.png import make_png

pytestmark = ON_POSTGRES


def test_ten_items_sharing_one_local_reference_upload_it_once_and_all_carry_its_asset_id(system, tmp_path):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "house-style.png").write_bytes(make_png(64, 64, 2))
    lines = ["batch: styled-ten", "defaults:", "  reference_images: [refs/house-style.png]"]
    lines += ["  reference_strength: 0.5", "  width: 256", "  height: 256", "items:"]
    lines += [f'  - {{name: shield-{n}, prompt: "a shield icon {n}"}}' for n in range(10)]
    manifest_path = tmp_path / "styled.yaml"
    manifest_path.write_text("\n".join(lines) + "\n")
    uploads_before = system.sim.stats()["uploads"]

    submit_batch(load_manifest(manifest_path))
    progress = wait_for_batch("styled-ten", timeout_s=60)

    jobs = system.batch_jobs("styled-ten")
    asset_ids = {tuple(job.params["referenceImages"]) for job in jobs}
    assert system.sim.stats()["uploads"] - uploads_before == 1
    assert len(asset_ids) == 1 and next(iter(asset_ids))[0].startswith("asset_")
    assert progress.succeeded == 10


def test_an_audio_and_a_3d_model_land_with_their_extension_and_mime_type_in_the_index(system, tmp_path):
    (tmp_path / "ref.png").write_bytes(make_png(32, 32, 1))
    manifest_path = tmp_path / "sounds.yaml"
    manifest_path.write_text(
        "batch: sounds-and-props\n"
        "items:\n"
        "  - {name: door-creak, prompt: a creaking door, model: model_audio-sfx, duration_seconds: 2}\n"
        "  - {name: crate, model: model_3d-mesh, image: ref.png}\n"
    )
    out = tmp_path / "library"

    submit_batch(load_manifest(manifest_path), out_dir=out)
    wait_for_batch("sounds-and-props", timeout_s=60)
    export_batch("sounds-and-props", out)

    assert (out / "door-creak.wav").read_bytes()[8:12] == b"WAVE"
    assert (out / "crate.glb").read_bytes()[:4] == b"glTF"
    index = json.loads((out / "index.json").read_text())
    types = {entry["item"]: entry["files"][0]["mime_type"] for entry in index["items"]}
    assert types == {"door-creak": "audio/wav", "crate": "model/gltf-binary"}
    assert "mime_type" in (out / "index.csv").read_text().splitlines()[0]
    spent = {entry["item"]: entry["cu_spent"] for entry in index["items"]}
    assert all(units > 0 for units in spent.values())
    assert sum(spent.values()) == pytest.approx(batch_progress("sounds-and-props").cu_spent)
