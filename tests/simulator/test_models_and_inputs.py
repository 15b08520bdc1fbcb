"""Models with input schemas, and POST /generate/custom checked against them, over HTTP."""

from __future__ import annotations

import re
import struct

import pytest
import requests

from tests.simulator.helpers import ApiClient, generate, read_png, upload_image

TYPES = {
    "boolean",
    "number",
    "string",
    "file",
    "model",
    "number_array",
    "string_array",
    "file_array",
    "model_array",
    "inputs_array",
}
MODELS = [
    "flux.1-dev",
    "flux.1-schnell",
    "model_scenario-game-icons",
    "model_upscale",
    "model_edit",
    "model_audio-sfx",
    "model_3d-mesh",
]


@pytest.mark.parametrize("model_id", MODELS)
def test_every_model_answers_its_input_schema(shared_api: ApiClient, model_id: str) -> None:
    model = shared_api.get(f"/models/{model_id}").json()["model"]
    assert model["id"] == model_id and model["type"] and model["capabilities"]
    assert model["inputs"], "a model without inputs"
    for definition in model["inputs"]:
        assert definition["type"] in TYPES
        assert isinstance(definition["name"], str)


def test_an_image_model_has_the_usual_inputs(shared_api: ApiClient) -> None:
    inputs = {d["name"]: d for d in shared_api.get("/models/flux.1-dev").json()["model"]["inputs"]}
    assert inputs["prompt"]["required"] == {"always": True} and inputs["prompt"]["maxLength"] == 4000
    assert (inputs["numSamples"]["min"], inputs["numSamples"]["max"], inputs["numSamples"]["default"]) == (1, 8, 1)
    assert (inputs["width"]["min"], inputs["width"]["max"], inputs["width"]["default"]) == (64, 2048, 1024)
    assert inputs["seed"]["type"] == "string"
    assert "16:9" in inputs["aspectRatio"]["allowedValues"]
    assert (inputs["referenceImages"]["type"], inputs["referenceImages"]["max"]) == ("file_array", 4)
    assert inputs["referenceStrength"]["required"] == {"ifDefined": "referenceImages"}
    assert "default" not in inputs["referenceStrength"]


def test_the_edit_model_uses_every_required_form(shared_api: ApiClient) -> None:
    inputs = {d["name"]: d for d in shared_api.get("/models/model_edit").json()["model"]["inputs"]}
    assert inputs["image"]["required"] == {"ifNotDefined": "referenceImages"}
    assert inputs["mask"]["required"] == {"conditional": [{"input": "mode", "values": ["inpaint"]}]}
    assert inputs["tags"] == {"name": "tags", "type": "string_array", "maxLength": 5}


@pytest.mark.parametrize(
    ("model_id", "inputs", "message"),
    [
        ("model_upscale", {"image": "x", "foo": 1}, '"foo" is not an input of model_upscale'),
        ("flux.1-dev", {"prompt": "p", "seed": 42}, '"seed" must be a string'),
        ("flux.1-dev", {"prompt": "p", "numSamples": 9}, '"numSamples" must be between 1 and 8'),
        ("flux.1-dev", {"prompt": "p", "numSamples": 1.5}, '"numSamples" must be a whole number'),
        ("flux.1-dev", {"prompt": "p", "width": 1001}, '"width" must be a multiple of 8'),
        ("flux.1-dev", {"prompt": "p", "height": 32}, '"height" must be between 64 and 2048'),
        ("flux.1-dev", {"prompt": "p", "guidance": True}, '"guidance" must be a number'),
        ("flux.1-dev", {"prompt": "p", "aspectRatio": "2:1"}, '"aspectRatio" must be one of'),
        ("flux.1-dev", {"prompt": "x" * 4001}, '"prompt" must be at most 4000 characters'),
        ("flux.1-dev", {}, '"prompt" is required'),
        ("flux.1-dev", {"prompt": "p", "referenceImages": ["asset_nope"]}, '"referenceImages[0]" must be an asset id'),
        ("model_upscale", {}, '"image" is required'),
        ("model_upscale", {"image": "asset_nope"}, '"image" must be an asset id this API key can see'),
        ("model_edit", {"prompt": "p"}, '"image" is required when "referenceImages" is not given'),
        ("model_edit", {"prompt": "p", "tags": ["a"] * 6, "image": "x"}, '"tags" must hold at most 5 items'),
        ("model_audio-sfx", {"prompt": "p", "durationSeconds": 31}, '"durationSeconds" must be between 1 and 30'),
        ("model_audio-sfx", {"prompt": "p", "loop": "yes"}, '"loop" must be a boolean'),
        ("model_3d-mesh", {"textured": True}, '"image" is required'),
    ],
)
def test_an_input_that_breaks_its_definition_is_a_400_naming_it(shared_api, model_id, inputs, message) -> None:
    response = generate(shared_api, model_id, inputs)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(message)


def test_a_custom_generation_echoes_the_inputs_with_defaults_and_a_picked_seed(api: ApiClient) -> None:
    job = generate(api, "flux.1-schnell", {"prompt": "a fox", "aspectRatio": "16:9"}).json()["job"]
    sent = job["metadata"]["input"]
    assert sent["prompt"] == "a fox" and sent["aspectRatio"] == "16:9"
    assert (sent["numSamples"], sent["width"], sent["height"]) == (1, 1024, 1024)
    assert (sent["guidance"], sent["numInferenceSteps"]) == (0.0, 4)
    assert isinstance(sent["seed"], str) and re.fullmatch(r"\d+", sent["seed"])
    assert "referenceStrength" not in sent


def test_a_sent_seed_is_echoed_as_sent(api: ApiClient) -> None:
    job = generate(api, "flux.1-dev", {"prompt": "a fox", "seed": "12345"}).json()["job"]
    assert job["metadata"]["input"]["seed"] == "12345"


def test_the_legacy_route_takes_an_int_seed_and_echoes_it_as_a_string(api: ApiClient) -> None:
    job = api.submit_job("a fox", seed=99)
    assert job["metadata"]["input"]["seed"] == "99"
    assert isinstance(api.submit_job("a fox")["metadata"]["input"]["seed"], str)


def test_reference_images_need_a_strength_and_take_my_uploads(api: ApiClient) -> None:
    ref = upload_image(api)
    missing = generate(api, "flux.1-dev", {"prompt": "p", "referenceImages": [ref]})
    assert missing.status_code == 400
    assert missing.json()["message"] == '"referenceStrength" is required when "referenceImages" is given'
    good = generate(api, "flux.1-dev", {"prompt": "p", "referenceImages": [ref], "referenceStrength": 0.4})
    assert good.status_code == 200, good.text
    assert good.json()["job"]["metadata"]["input"]["referenceImages"] == [ref]


def test_an_inpaint_needs_a_mask_and_an_edit_does_not(api: ApiClient) -> None:
    image = upload_image(api)
    assert generate(api, "model_edit", {"prompt": "p", "image": image}).status_code == 200
    inpaint = generate(api, "model_edit", {"prompt": "p", "image": image, "mode": "inpaint"})
    assert inpaint.status_code == 400 and '"mask" is required' in inpaint.json()["message"]
    mask = upload_image(api, palette=3)
    body = {"prompt": "p", "referenceImages": [image], "mode": "inpaint", "mask": mask}
    assert generate(api, "model_edit", body).status_code == 200


def test_an_earlier_jobs_asset_is_a_valid_file_input(api: ApiClient) -> None:
    job = generate(api, "flux.1-dev", {"prompt": "p", "width": 64, "height": 96}).json()["job"]
    not_yet = generate(api, "model_upscale", {"image": "asset_unknown"})
    assert not_yet.status_code == 400
    final, _ = api.wait_final(job["jobId"])
    [asset_id] = final["metadata"]["assetIds"]
    upscale = generate(api, "model_upscale", {"image": asset_id, "scaleFactor": 4})
    assert upscale.status_code == 200, upscale.text
    done, _ = api.wait_final(upscale.json()["job"]["jobId"])
    assert done["jobType"] == "upscale"
    out = api.get(f"/assets/{done['metadata']['assetIds'][0]}").json()["asset"]
    assert (out["properties"]["width"], out["properties"]["height"]) == (256, 384)
    assert read_png(requests.get(out["url"], timeout=5).content)[:2] == (256, 384)


def test_an_upscale_defaults_to_twice_the_uploaded_size(api: ApiClient) -> None:
    job = generate(api, "model_upscale", {"image": upload_image(api, 24, 16)}).json()["job"]
    assert job["metadata"]["input"]["scaleFactor"] == 2 and job["metadata"]["input"]["style"] == "standard"
    final, _ = api.wait_final(job["jobId"])
    asset = api.get(f"/assets/{final['metadata']['assetIds'][0]}").json()["asset"]
    assert (asset["properties"]["width"], asset["properties"]["height"]) == (48, 32)


def test_an_audio_model_makes_a_real_wav_served_as_audio(api: ApiClient) -> None:
    job = generate(api, "model_audio-sfx", {"prompt": "a door creaks", "durationSeconds": 2}).json()["job"]
    assert job["jobType"] == "custom" and job["metadata"]["input"]["loop"] is False
    final, _ = api.wait_final(job["jobId"])
    asset = api.get(f"/assets/{final['metadata']['assetIds'][0]}").json()["asset"]
    assert (asset["mimeType"], asset["kind"]) == ("audio/wav", "audio")
    assert re.search(r"/_files/asset_\w+\.wav\?", asset["url"])
    assert "width" not in asset["properties"]
    download = requests.get(asset["url"], timeout=5)
    assert download.headers["Content-Type"] == "audio/wav"
    data = download.content
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) == asset["properties"]["size"]
    (riff_size,) = struct.unpack("<I", data[4:8])
    assert riff_size == len(data) - 8
    channels, rate = struct.unpack("<HI", data[22:28])
    (data_size,) = struct.unpack("<I", data[40:44])
    assert channels == 1 and data_size == 2 * rate


def test_a_3d_model_makes_a_valid_glb(api: ApiClient) -> None:
    job = generate(api, "model_3d-mesh", {"image": upload_image(api)}).json()["job"]
    assert job["metadata"]["input"]["textured"] is True
    final, _ = api.wait_final(job["jobId"])
    asset = api.get(f"/assets/{final['metadata']['assetIds'][0]}").json()["asset"]
    assert (asset["mimeType"], asset["kind"]) == ("model/gltf-binary", "3d")
    data = requests.get(asset["url"], timeout=5).content
    magic, version, length = struct.unpack("<4sII", data[:12])
    chunk_length, chunk_type = struct.unpack("<I4s", data[12:20])
    assert (magic, version, length, chunk_type) == (b"glTF", 2, len(data), b"JSON")
    assert chunk_length % 4 == 0 and 20 + chunk_length == len(data)
    assert b'"version":"2.0"' in data[20:]


def test_a_download_with_the_wrong_extension_is_a_404(api: ApiClient) -> None:
    final, _ = api.wait_final(generate(api, "model_audio-sfx", {"prompt": "boom"}).json()["job"]["jobId"])
    url = api.get(f"/assets/{final['metadata']['assetIds'][0]}").json()["asset"]["url"]
    assert requests.get(url.replace(".wav?", ".png?"), timeout=5).status_code == 404


def test_an_asset_seed_is_a_string(api: ApiClient) -> None:
    final, _ = api.wait_final(api.submit_job("a fox", seed=5, width=128, height=128)["jobId"])
    asset = api.get(f"/assets/{final['metadata']['assetIds'][0]}").json()["asset"]
    assert asset["metadata"]["seed"] == "5"
