"""A model's input schema as a table: inputs -> what is sent, or the exact problems named."""

from __future__ import annotations

import pickle

import pytest

from worker.errors import WorkerError
from worker.scenario.errors import UnexpectedResponse
from worker.scenario.schema import InputError, ModelSchema

FLUX = {
    "id": "flux.1-dev",
    "inputs": [
        {"name": "prompt", "type": "string", "required": {"always": True}, "maxLength": 20, "label": "Prompt"},
        {"name": "negativePrompt", "type": "string", "minLength": 3},
        {"name": "numSamples", "type": "number", "min": 1, "max": 8, "default": 1},
        {"name": "guidance", "type": "number", "min": 0, "max": 20, "default": 3.5},
        {"name": "aspectRatio", "type": "string", "allowedValues": ["1:1", "16:9"]},
        {"name": "scaleFactor", "type": "number", "allowedValues": [2, 4], "default": 2},
        {"name": "tiling", "type": "boolean", "default": False},
        {"name": "seed", "type": "string"},
        {"name": "baseModel", "type": "model"},
        {"name": "loras", "type": "model_array", "maxLength": 2},
        {"name": "weights", "type": "number_array", "min": 1, "max": 3},
        {"name": "referenceImages", "type": "file_array", "kind": "image", "max": 2},
        {
            "name": "referenceStrength",
            "type": "number",
            "min": 0,
            "max": 1,
            "required": {"ifDefined": "referenceImages"},
        },
        {"name": "styles", "type": "string_array", "allowedValues": ["pixel", "flat"], "minLength": 1},
        {"name": "layers", "type": "inputs_array"},
        {"name": "anything", "description": "no type: any value"},
        {"name": "future", "type": "vector3"},
    ],
}
EDIT = {
    "id": "model_edit",
    "inputs": [
        {"name": "image", "type": "file", "required": {"ifNotDefined": "referenceImages"}},
        {"name": "referenceImages", "type": "file_array", "min": 1, "max": 3},
        {"name": "mode", "type": "string", "allowedValues": ["edit", "inpaint"], "default": "edit"},
        {"name": "mask", "type": "file", "required": {"conditional": [{"input": "mode", "values": ["inpaint"]}]}},
        {"name": "sketch", "type": "file", "required": {"conditional": {"input": "mode", "value": "sketch"}}},
        {
            "name": "depth",
            "type": "file",
            "required": {"conditional": [{"input": "mode", "value": "inpaint"}, {"input": "strength", "values": [1]}]},
        },
        {"name": "strength", "type": "number"},
        {"name": "odd", "type": "string", "required": {"whenTheMoonIsFull": True}},
        {"name": "oddConditional", "type": "string", "required": {"conditional": [{"values": ["x"]}]}},
        {"name": "never", "type": "string", "required": {"always": False}},
    ],
}
UPSCALE = {"id": "model_upscale", "inputs": [{"name": "image", "type": "file", "required": {"always": True}}]}

FLUX_DEFAULTS = {"numSamples": 1, "guidance": 3.5, "scaleFactor": 2, "tiling": False}


@pytest.mark.parametrize(
    ("model", "values", "sent"),
    [
        (FLUX, {"prompt": "a fox"}, {"prompt": "a fox", **FLUX_DEFAULTS}),
        (
            FLUX,
            {"prompt": "a fox", "numSamples": 8, "tiling": True},
            {"prompt": "a fox", **FLUX_DEFAULTS, "numSamples": 8, "tiling": True},
        ),
        (FLUX, {"prompt": "a fox", "guidance": 0}, {"prompt": "a fox", **FLUX_DEFAULTS, "guidance": 0}),
        (FLUX, {"prompt": "a fox", "guidance": 7.25}, {"prompt": "a fox", **FLUX_DEFAULTS, "guidance": 7.25}),
        # Scenario's seeds are strings: an int seed is sent as its decimal string.
        (FLUX, {"prompt": "a fox", "seed": 42}, {"prompt": "a fox", **FLUX_DEFAULTS, "seed": "42"}),
        (
            FLUX,
            {"prompt": "a fox", "seed": "18446744073709551615"},
            {"prompt": "a fox", **FLUX_DEFAULTS, "seed": "18446744073709551615"},
        ),
        # None is not given: the default fills it.
        (FLUX, {"prompt": "a fox", "numSamples": None}, {"prompt": "a fox", **FLUX_DEFAULTS}),
        (
            FLUX,
            {"prompt": "a fox", "referenceImages": ["asset_1", "asset_2"], "referenceStrength": 0.5},
            {"prompt": "a fox", **FLUX_DEFAULTS, "referenceImages": ["asset_1", "asset_2"], "referenceStrength": 0.5},
        ),
        (
            FLUX,
            {"prompt": "a fox", "styles": ["pixel", "flat"], "loras": ["m1", "m2"], "weights": [0.5, 9]},
            {
                "prompt": "a fox",
                **FLUX_DEFAULTS,
                "styles": ["pixel", "flat"],
                "loras": ["m1", "m2"],
                "weights": [0.5, 9],
            },
        ),
        (
            FLUX,
            {"prompt": "a fox", "layers": [{"a": 1}, {}], "anything": [1, "x"], "future": {"x": 1}},
            {"prompt": "a fox", **FLUX_DEFAULTS, "layers": [{"a": 1}, {}], "anything": [1, "x"], "future": {"x": 1}},
        ),
        (EDIT, {"image": "asset_1"}, {"image": "asset_1", "mode": "edit"}),
        (EDIT, {"referenceImages": ["asset_1"]}, {"referenceImages": ["asset_1"], "mode": "edit"}),
        (
            EDIT,
            {"image": "a", "mode": "inpaint", "mask": "m", "depth": "d"},
            {"image": "a", "mode": "inpaint", "mask": "m", "depth": "d"},
        ),
        (
            EDIT,
            {"image": "a", "mode": "inpaint", "mask": "m", "strength": 2},
            {"image": "a", "mode": "inpaint", "mask": "m", "strength": 2},
        ),
        (UPSCALE, {"image": "asset_1"}, {"image": "asset_1"}),
        ({"id": "bare"}, {}, {}),
    ],
)
def test_good_inputs_are_sent_with_the_defaults_applied(model, values, sent):
    assert ModelSchema.from_model(model).check(values) == sent


@pytest.mark.parametrize(
    ("model", "values", "problems"),
    [
        # required, each form
        (UPSCALE, {}, ["model model_upscale: input image is required"]),
        (FLUX, {}, ["model flux.1-dev: input prompt is required"]),
        (
            FLUX,
            {"prompt": "a", "referenceImages": ["asset_1"]},
            ["model flux.1-dev: input referenceStrength is required when referenceImages is given"],
        ),
        (EDIT, {}, ["model model_edit: input image is required when referenceImages is not given"]),
        (
            EDIT,
            {"image": "a", "mode": "inpaint"},
            # depth also needs strength 1, which is not given: only mask is required.
            ['model model_edit: input mask is required when mode is "inpaint"'],
        ),
        (
            EDIT,
            {"image": "a", "mode": "inpaint", "strength": 1, "mask": "m"},
            ['model model_edit: input depth is required when mode is "inpaint" and strength is 1'],
        ),
        (
            EDIT,
            {"image": "a", "mode": "sketch"},
            [
                'model model_edit: input mode: "sketch" is not allowed; allowed: "edit", "inpaint"',
                'model model_edit: input sketch is required when mode is "sketch"',
            ],
        ),
        # types
        (FLUX, {"prompt": 3}, ["model flux.1-dev: input prompt: 3 is not a string"]),
        (FLUX, {"prompt": "a", "numSamples": "two"}, ['model flux.1-dev: input numSamples: "two" is not a number']),
        (FLUX, {"prompt": "a", "numSamples": True}, ["model flux.1-dev: input numSamples: true is not a number"]),
        (FLUX, {"prompt": "a", "guidance": float("nan")}, ["model flux.1-dev: input guidance: NaN is not a number"]),
        (FLUX, {"prompt": "a", "tiling": "yes"}, ['model flux.1-dev: input tiling: "yes" is not a boolean']),
        (FLUX, {"prompt": "a", "tiling": 1}, ["model flux.1-dev: input tiling: 1 is not a boolean"]),
        (FLUX, {"prompt": "a", "seed": 4.5}, ["model flux.1-dev: input seed: 4.5 is not a string"]),
        (FLUX, {"prompt": "a", "baseModel": ""}, ['model flux.1-dev: input baseModel: "" is not a model id']),
        (UPSCALE, {"image": "  "}, ['model model_upscale: input image: "  " is not a file id']),
        (
            FLUX,
            {"prompt": "a", "referenceImages": "asset_1", "referenceStrength": 1},
            ['model flux.1-dev: input referenceImages: "asset_1" is not a list of file ids'],
        ),
        (
            FLUX,
            {"prompt": "a", "referenceImages": ["asset_1", 7], "referenceStrength": 1},
            ["model flux.1-dev: input referenceImages[1]: 7 is not a file id"],
        ),
        (FLUX, {"prompt": "a", "weights": [1, "x"]}, ['model flux.1-dev: input weights[1]: "x" is not a number']),
        (FLUX, {"prompt": "a", "layers": [{"a": 1}, "b"]}, ['model flux.1-dev: input layers[1]: "b" is not an object']),
        (
            FLUX,
            {"prompt": "a", "layers": {"a": 1}},
            ['model flux.1-dev: input layers: {"a": 1} is not a list of objects'],
        ),
        # min / max on numbers, item counts on arrays
        (FLUX, {"prompt": "a", "numSamples": 12}, ["model flux.1-dev: input numSamples: 12 is above the maximum 8"]),
        (FLUX, {"prompt": "a", "numSamples": 0}, ["model flux.1-dev: input numSamples: 0 is below the minimum 1"]),
        (FLUX, {"prompt": "a", "guidance": 20.5}, ["model flux.1-dev: input guidance: 20.5 is above the maximum 20"]),
        (
            FLUX,
            {"prompt": "a", "referenceImages": ["a", "b", "c"], "referenceStrength": 1},
            ["model flux.1-dev: input referenceImages: has 3 items; at most 2 are allowed"],
        ),
        (FLUX, {"prompt": "a", "weights": []}, ["model flux.1-dev: input weights: has 0 items; at least 1 are needed"]),
        (
            EDIT,
            {"referenceImages": []},
            ["model model_edit: input referenceImages: has 0 items; at least 1 are needed"],
        ),
        # allowedValues, on scalars and on each item of an array
        (
            FLUX,
            {"prompt": "a", "aspectRatio": "3:2"},
            ['model flux.1-dev: input aspectRatio: "3:2" is not allowed; allowed: "1:1", "16:9"'],
        ),
        (
            FLUX,
            {"prompt": "a", "scaleFactor": 3},
            ["model flux.1-dev: input scaleFactor: 3 is not allowed; allowed: 2, 4"],
        ),
        (
            FLUX,
            {"prompt": "a", "styles": ["pixel", "oil"]},
            ['model flux.1-dev: input styles[1]: "oil" is not allowed; allowed: "pixel", "flat"'],
        ),
        # minLength / maxLength: characters of strings, item counts of string and model arrays
        (FLUX, {"prompt": "x" * 21}, ["model flux.1-dev: input prompt: is 21 characters long; at most 20 are allowed"]),
        (
            FLUX,
            {"prompt": "a", "negativePrompt": "no"},
            ["model flux.1-dev: input negativePrompt: is 2 characters long; at least 3 are needed"],
        ),
        (
            FLUX,
            {"prompt": "a", "loras": ["m1", "m2", "m3"]},
            ["model flux.1-dev: input loras: has 3 items; at most 2 are allowed"],
        ),
        (FLUX, {"prompt": "a", "styles": []}, ["model flux.1-dev: input styles: has 0 items; at least 1 are needed"]),
        # unknown inputs, with a suggestion when one is close
        (
            FLUX,
            {"promt": "a fox"},
            [
                'model flux.1-dev: unknown input "promt"; did you mean "prompt"?',
                "model flux.1-dev: input prompt is required",
            ],
        ),
        (UPSCALE, {"image": "a", "zzz": 1}, ['model model_upscale: unknown input "zzz"; the inputs are image']),
        # every problem at once
        (
            FLUX,
            {"numSamples": 12, "aspectRatio": "3:2", "tilling": True},
            [
                "model flux.1-dev: input numSamples: 12 is above the maximum 8",
                'model flux.1-dev: input aspectRatio: "3:2" is not allowed; allowed: "1:1", "16:9"',
                'model flux.1-dev: unknown input "tilling"; did you mean "tiling"?',
                "model flux.1-dev: input prompt is required",
            ],
        ),
    ],
)
def test_bad_inputs_raise_one_error_naming_every_problem(model, values, problems):
    with pytest.raises(InputError) as caught:
        ModelSchema.from_model(model).check(values)
    assert caught.value.problems == problems
    assert str(caught.value) == "; ".join(problems)


def test_an_unknown_required_form_and_a_false_always_are_ignored():
    sent = ModelSchema.from_model(EDIT).check({"image": "a"})
    assert "odd" not in sent and "oddConditional" not in sent and "never" not in sent


def test_a_default_counts_as_defined_for_the_required_forms():
    model = {
        "id": "m",
        "inputs": [
            {"name": "mode", "type": "string", "default": "inpaint"},
            {"name": "mask", "type": "file", "required": {"conditional": {"input": "mode", "value": "inpaint"}}},
            {"name": "fallback", "type": "file", "required": {"ifNotDefined": "mode"}},
        ],
    }
    with pytest.raises(InputError) as caught:
        ModelSchema.from_model(model).check({})
    assert caught.value.problems == ['model m: input mask is required when mode is "inpaint"']


def test_a_long_value_is_cut_short_in_the_message():
    with pytest.raises(InputError) as caught:
        ModelSchema.from_model(FLUX).check({"prompt": "a", "aspectRatio": "y" * 500})
    assert len(str(caught.value)) < 200 and '"yyy' in str(caught.value)


def test_the_defaults_given_back_are_copies_the_caller_may_change():
    model = {"id": "m", "inputs": [{"name": "tags", "type": "string_array", "default": ["a"]}]}
    schema = ModelSchema.from_model(model)
    schema.check({})["tags"].append("b")
    assert schema.check({}) == {"tags": ["a"]}


def test_an_input_error_is_a_value_error_and_a_worker_error_that_survives_pickling():
    with pytest.raises(InputError) as caught:
        ModelSchema.from_model(UPSCALE).check({})
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, WorkerError) and not error.retryable
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.model_id, copy.problems, str(copy)) == (error.model_id, error.problems, str(error))


def test_the_file_inputs_and_whether_the_model_takes_a_seed_are_named():
    flux = ModelSchema.from_model(FLUX)
    assert flux.file_inputs() == ("referenceImages",)
    assert flux.takes_seed and not ModelSchema.from_model(UPSCALE).takes_seed
    assert ModelSchema.from_model(EDIT).file_inputs() == ("image", "referenceImages", "mask", "sketch", "depth")


@pytest.mark.parametrize(
    ("model", "names"),
    [
        ({"model": UPSCALE}, ("image",)),
        ({"id": "m", "inputs": [{"name": "x", "type": "number", "min": "1", "unknownKey": {"a": 1}}]}, ("x",)),
        ({"id": "m", "inputs": None}, ()),
    ],
)
def test_a_schema_is_read_tolerantly(model, names):
    assert tuple(d.name for d in ModelSchema.from_model(model).inputs) == names


@pytest.mark.parametrize(
    ("model", "named"),
    [
        ({"id": "m", "inputs": {"prompt": {}}}, "model m: 'inputs' is not a list"),
        ({"id": "m", "inputs": [{"type": "string"}]}, r"model m: inputs\[0\] is not an input definition"),
        ("flux", "not a JSON object"),
    ],
)
def test_a_schema_that_cannot_be_read_is_an_unexpected_response(model, named):
    with pytest.raises(UnexpectedResponse, match=named):
        ModelSchema.from_model(model)


def test_inputs_that_are_not_an_object_are_refused():
    with pytest.raises(InputError, match="must be an object"):
        ModelSchema.from_model(FLUX).check(["prompt"])
