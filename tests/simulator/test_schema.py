"""The input schema checks as pure functions: one table of values, one of requirements."""

from __future__ import annotations

import math

import pytest

from worker.simulator.messages import ApiError
from worker.simulator.models import CATALOGUE
from worker.simulator.schema import check_value, check_values, required_because

VISIBLE = {"asset_mine": 1000, "asset_big": 50_000_000}


def lookup(asset_id: str) -> int | None:
    return VISIBLE.get(asset_id)


NUMBER = {"name": "n", "type": "number", "min": 1, "max": 8}
STRING = {"name": "s", "type": "string", "minLength": 2, "maxLength": 4, "allowedValues": ["ab", "abc", "abcd", "x"]}
FILE = {"name": "f", "type": "file", "kind": "image", "maxSize": 10_000}
FILES = {"name": "fs", "type": "file_array", "kind": "image", "min": 1, "max": 2}
TAGS = {"name": "t", "type": "string_array", "maxLength": 2}
NUMBERS = {"name": "ns", "type": "number_array", "min": 1, "max": 3}
MODELS = {"name": "ms", "type": "model_array", "minLength": 1}
FLAG = {"name": "b", "type": "boolean"}
INPAINT = {"conditional": [{"input": "mode", "values": ["inpaint"]}]}
BOTH = {"conditional": [{"input": "a", "value": 1}, {"input": "b", "values": [2, 3]}]}
NESTED = {"name": "layers", "type": "inputs_array", "inputs": [{"name": "w", "type": "number", "max": 1}]}


@pytest.mark.parametrize(
    ("definition", "value", "problem"),
    [
        (NUMBER, 3, None),
        (NUMBER, 2.5, None),
        (NUMBER, True, "must be a number"),
        (NUMBER, "3", "must be a number"),
        (NUMBER, math.inf, "must be a number"),
        (NUMBER, math.nan, "must be a number"),
        (NUMBER, 0, "must be between 1 and 8"),
        (NUMBER, 9, "must be between 1 and 8"),
        (STRING, "abc", None),
        (STRING, 3, "must be a string"),
        (STRING, "x", "must be at least 2 characters"),
        (STRING, "zz", "must be one of"),
        (FILE, "asset_mine", None),
        (FILE, "asset_other", "must be an asset id this API key can see"),
        (FILE, 5, "must be an asset id (a string)"),
        (FILE, "asset_big", "over the 10000 allowed"),
        (FILES, ["asset_mine"], None),
        (FILES, [], "must hold at least 1 items"),
        (FILES, ["asset_mine"] * 3, "must hold at most 2 items"),
        (FILES, ["asset_mine", "asset_other"], '"fs[1]" must be an asset id'),
        (FILES, "asset_mine", "must be a list"),
        (TAGS, ["a", "b"], None),
        (TAGS, ["a", "b", "c"], "must hold at most 2 items"),
        (TAGS, ["a", 1], '"t[1]" must be a string'),
        (NUMBERS, [1, 2.5], None),
        (NUMBERS, [1, False], '"ns[1]" must be a number'),
        (NUMBERS, [1, 2, 3, 4], "must hold at most 3 items"),
        (MODELS, [], "must hold at least 1 items"),
        (FLAG, False, None),
        (FLAG, 0, "must be a boolean"),
        (NESTED, [{"w": 0.5}], None),
        (NESTED, [{"w": 2}], '"w" must be between'),
        (NESTED, [{"v": 1}], '"v" is not an input of layers[0]'),
    ],
)
def test_each_value_is_checked_against_its_definition(definition, value, problem) -> None:
    if problem is None:
        check_value(definition, value, lookup)
        return
    with pytest.raises(ApiError) as raised:
        check_value(definition, value, lookup)
    assert raised.value.status == 400
    assert problem in raised.value.message


@pytest.mark.parametrize(
    ("required", "values", "expected"),
    [
        ({"always": True}, {}, ""),
        ({"always": False}, {}, None),
        (None, {}, None),
        ({"ifDefined": "a"}, {"a": 1}, ' when "a" is given'),
        ({"ifDefined": "a"}, {}, None),
        ({"ifNotDefined": "a"}, {}, ' when "a" is not given'),
        ({"ifNotDefined": "a"}, {"a": 1}, None),
        (INPAINT, {"mode": "inpaint"}, " when \"mode\" is 'inpaint'"),
        (INPAINT, {"mode": "edit"}, None),
        (INPAINT, {}, None),
        ({"conditional": {"input": "mode", "value": "inpaint"}}, {"mode": "inpaint"}, " when \"mode\" is 'inpaint'"),
        (BOTH, {"a": 1, "b": 3}, ' when "a" is 1 and "b" is 3'),
        (BOTH, {"a": 1, "b": 4}, None),
        ({"conditional": []}, {}, None),
    ],
)
def test_each_required_form_decides_from_the_other_values(required, values, expected) -> None:
    assert required_because(required, values) == expected


def test_defaults_are_applied_and_the_sent_values_kept() -> None:
    model = CATALOGUE["model_audio-sfx"]
    full = check_values(model.inputs, {"prompt": "boom", "loop": True}, owner=model.id, lookup=lookup)
    assert full == {"prompt": "boom", "loop": True, "durationSeconds": 5}


def test_an_input_required_because_of_another_is_refused_when_missing() -> None:
    model = CATALOGUE["model_edit"]
    with pytest.raises(ApiError) as raised:
        check_values(model.inputs, {"prompt": "p", "image": "asset_mine", "mode": "inpaint"}, owner="e", lookup=lookup)
    assert raised.value.message == '"mask" is required when "mode" is \'inpaint\''
