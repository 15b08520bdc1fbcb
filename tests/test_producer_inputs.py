"""What enqueue_generation refuses before it touches anything: each refusal names the field."""

from __future__ import annotations

import math

import pytest

from worker import enqueue_generation


@pytest.mark.parametrize("deadline_s", [math.nan, math.inf, -math.inf, 1e12, 0, -5, True, "600"])
def test_a_deadline_that_is_not_a_sensible_number_of_seconds_is_refused_naming_it(deadline_s):
    with pytest.raises(ValueError, match="^deadline_s: "):
        enqueue_generation("a fox", deadline_s=deadline_s)


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"prompt": "\x00"}, "prompt"),
        ({"prompt": "a lone \ud800 surrogate"}, "prompt"),
        ({"model_id": "../../etc/passwd"}, "model_id"),
        ({"model_id": "m" * 10_000}, "model_id"),
        ({"model_id": "flux\x00"}, "model_id"),
        ({"negative_prompt": "x" * 1_000_000}, "negative_prompt"),
    ],
)
def test_hard_inputs_are_refused_at_the_door_naming_the_field(inputs, field):
    fields = {"prompt": "a fox", **inputs}
    with pytest.raises(ValueError, match=f"^{field}: "):
        enqueue_generation(fields.pop("prompt"), **fields)
