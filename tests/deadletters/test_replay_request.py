"""What a dead letter's payload turns back into when it is replayed."""

from __future__ import annotations

import pytest

from worker.deadletters import ReplayPlan, replay_request
from worker.generation import GenerationRequest

PARAMS = {"modelId": "flux.1-dev", "prompt": "a brass key", "width": 512, "height": 768, "numSamples": 2, "seed": 42}
REQUEST = GenerationRequest(prompt="a brass key", width=512, height=768, num_samples=2, seed=42)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {
                "params": PARAMS,
                "batch_id": "b1",
                "item_key": "k1",
                "item_name": "key",
                "tags": ["ui", "gold"],
                "task": "scenario.submit_generation",
                "args": ["j1"],
            },
            ReplayPlan(REQUEST, batch_id="b1", item_key="k1", item_name="key", tags=("ui", "gold")),
        ),
        (
            {"params": {"modelId": "flux.1-schnell", "prompt": "a moth"}},
            ReplayPlan(GenerationRequest(prompt="a moth", model_id="flux.1-schnell")),
        ),
        ({"params": PARAMS, "batch_id": None, "item_key": None, "item_name": None, "tags": None}, ReplayPlan(REQUEST)),
    ],
)
def test_a_payload_gives_back_the_original_generation_with_its_batch_item(payload, expected):
    assert replay_request(payload) == expected


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ({}, "params"),
        ({"params": "prompt=a moth"}, "params"),
        ({"params": {**PARAMS, "style": "pixel\x00"}}, "style"),
        ({"params": {**PARAMS, "width": 1001}}, "width"),
        ({"params": PARAMS, "batch_id": 7}, "batch_id"),
        ({"params": PARAMS, "tags": "ui"}, "tags"),
    ],
)
def test_a_payload_that_cannot_be_replayed_is_refused_naming_what_is_wrong(payload, names):
    with pytest.raises(ValueError, match=f"^{names}:"):
        replay_request(payload)
