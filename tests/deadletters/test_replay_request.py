"""What a dead letter's payload turns back into when it is replayed."""

from __future__ import annotations

import pytest

from worker.deadletters import replay_request
from worker.generation import GenerationRequest

PARAMS = {"modelId": "flux.1-dev", "prompt": "a brass key", "width": 512, "height": 768, "numSamples": 2, "seed": 42}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"params": PARAMS, "batch_id": "b1", "item_key": "k1", "task": "scenario.submit_generation"},
            (GenerationRequest(prompt="a brass key", width=512, height=768, num_samples=2, seed=42), "b1", "k1"),
        ),
        ({"params": {"modelId": "flux.1-schnell", "prompt": "a moth"}},
         (GenerationRequest(prompt="a moth", model_id="flux.1-schnell"), None, None)),
        ({"params": PARAMS, "batch_id": None, "item_key": None}, (GenerationRequest.from_params(PARAMS), None, None)),
    ],
)
def test_a_payload_gives_back_the_original_generation_with_its_batch_and_item(payload, expected):
    assert replay_request(payload) == expected


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ({}, "params"),
        ({"params": "prompt=a moth"}, "params"),
        ({"params": {**PARAMS, "style": "pixel"}}, "style"),
        ({"params": {**PARAMS, "width": 1001}}, "width"),
        ({"params": PARAMS, "batch_id": 7}, "batch_id"),
    ],
)
def test_a_payload_that_cannot_be_replayed_is_refused_naming_what_is_wrong(payload, names):
    with pytest.raises(ValueError, match=f"^{names}:"):
        replay_request(payload)
