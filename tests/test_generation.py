from __future__ import annotations

import pytest

from worker.generation import GenerationRequest


def test_a_request_becomes_scenarios_camel_case_body_without_unset_fields():
    request = GenerationRequest(prompt="a fox", width=512, height=768, num_samples=2, seed=7)
    assert request.to_params() == {
        "modelId": "flux.1-dev",
        "prompt": "a fox",
        "width": 512,
        "height": 768,
        "numSamples": 2,
        "seed": "7",
    }


def test_a_stored_body_turns_back_into_the_same_request():
    request = GenerationRequest(prompt="a fox", guidance=3.5, num_inference_steps=28, negative_prompt="blur")
    assert GenerationRequest.from_params(request.to_params()) == request


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 12}, "prompt"),
        ({"prompt": "x" * 4001}, "prompt"),
        ({"model_id": ""}, "model_id"),
        ({"width": 1001}, "width"),
        ({"width": 56}, "width"),
        ({"height": 4096}, "height"),
        ({"height": "512"}, "height"),
        ({"num_samples": 0}, "num_samples"),
        ({"num_samples": 9}, "num_samples"),
        ({"num_samples": True}, "num_samples"),
        ({"guidance": -1}, "guidance"),
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"negative_prompt": 3}, "negative_prompt"),
        ({"prompt": "\x00"}, "prompt"),
        ({"prompt": "a fox\x00"}, "prompt"),
        ({"prompt": "a \ud800 fox"}, "prompt"),
        ({"model_id": "../../etc/passwd"}, "model_id"),
        ({"model_id": "m" * 10_000}, "model_id"),
        ({"model_id": "flux\x00"}, "model_id"),
        ({"negative_prompt": "x" * 1_000_000}, "negative_prompt"),
        ({"style": "bad\x00"}, "style"),
        ({"tags": ["ok", "a\ud800"]}, "tags"),
    ],
)
def test_a_bad_parameter_is_refused_naming_the_field(fields, field):
    with pytest.raises(ValueError) as caught:
        GenerationRequest(**{"prompt": "a fox", **fields})
    assert str(caught.value).startswith(f"{field}: ")


def test_any_input_of_a_model_is_taken_in_either_spelling_and_sent_in_camel_case():
    request = GenerationRequest("a fox", model_id="m", aspect_ratio="16:9", inputs={"referenceImages": ["asset_a"]})
    assert request.to_params() == {
        "modelId": "m",
        "prompt": "a fox",
        "aspectRatio": "16:9",
        "referenceImages": ["asset_a"],
    }
    assert GenerationRequest.from_params(request.to_params()) == request


def test_an_input_given_in_both_spellings_is_refused():
    with pytest.raises(ValueError, match="is given twice"):
        GenerationRequest("a fox", aspect_ratio="1:1", inputs={"aspectRatio": "16:9"})


@pytest.mark.parametrize("seed", [7, "7"])
def test_a_seed_travels_as_a_string_whether_given_as_int_or_text(seed):
    assert GenerationRequest("a fox", seed=seed).inputs["seed"] == "7"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), [1, float("inf")]])
def test_an_input_that_cannot_travel_as_json_is_refused_naming_it(value):
    with pytest.raises(ValueError, match="^style_strength: "):
        GenerationRequest("a fox", style_strength=value)
