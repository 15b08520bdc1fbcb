"""Checks of a txt2img body, field by field, with messages that name the field."""

from __future__ import annotations

import math
from typing import Any

from worker.simulator.messages import ApiError
from worker.simulator.models import Model

# Accepted fields and the checks they get; modelId is only in the body of /generate/txt2img.
_STRING_FIELDS = ("negativePrompt", "baseModelId")
_BOOL_FIELDS = ("intermediateImages", "hideResults")
# name -> (lowest, highest, step) for integer fields.
_INT_RANGES = {
    "numSamples": (1, 8, 1),
    "width": (128, 2048, 8),
    "height": (128, 2048, 8),
    "numInferenceSteps": (1, 100, 1),
    "seed": (0, 2**32 - 1, 1),
}
GUIDANCE_RANGE = (0.0, 20.0)
INPUT_FIELDS = ("prompt", *_STRING_FIELDS, *_BOOL_FIELDS, *_INT_RANGES, "guidance")


def _bad(name: str, what: str) -> ApiError:
    return ApiError(400, f'"{name}" {what}')


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(name: str, value: Any) -> None:
    low, high, step = _INT_RANGES[name]
    if not _is_int(value):
        raise _bad(name, "must be an integer")
    if not low <= value <= high:
        raise _bad(name, f"must be between {low} and {high}")
    if value % step:
        raise _bad(name, f"must be a multiple of {step}")


def _check_guidance(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad("guidance", "must be a number")
    low, high = GUIDANCE_RANGE
    if not low <= value <= high:
        raise _bad("guidance", f"must be between {low:g} and {high:g}")


def validate_inputs(body: Any, *, model_in_body: bool) -> dict[str, Any]:
    """The body as sent, once every field passed its check; raises ApiError 400 naming the field."""
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    allowed = set(INPUT_FIELDS) | ({"modelId"} if model_in_body else set())
    for name in body:
        if name not in allowed:
            where = " (the model is given in the path)" if name == "modelId" else ""
            raise _bad(name, f"is not allowed{where}")
    if model_in_body:
        if "modelId" not in body:
            raise _bad("modelId", "is required")
        if not isinstance(body["modelId"], str):
            raise _bad("modelId", "must be a string")
        if not body["modelId"]:
            raise _bad("modelId", "must not be empty")
    if "prompt" not in body:
        raise _bad("prompt", "is required")
    if not isinstance(body["prompt"], str) or not body["prompt"].strip():
        raise _bad("prompt", "must be a non-empty string")
    for name, value in body.items():
        if name in _STRING_FIELDS and not isinstance(value, str):
            raise _bad(name, "must be a string")
        if name in _BOOL_FIELDS and not isinstance(value, bool):
            raise _bad(name, "must be a boolean")
        if name in _INT_RANGES:
            _check_int(name, value)
        if name == "guidance":
            _check_guidance(value)
    return dict(body)


def with_defaults(inputs: dict[str, Any], model: Model) -> dict[str, Any]:
    """The job's metadata.input: what was sent, the model's defaults for the rest, and the type."""
    full: dict[str, Any] = {
        "modelId": model.id,
        "type": "txt2img",
        "baseModelId": "",
        "negativePrompt": "",
        "numSamples": 1,
        "width": 1024,
        "height": 1024,
        "guidance": model.default_guidance,
        "numInferenceSteps": model.default_steps,
        "intermediateImages": False,
        "hideResults": False,
    }
    full.update(inputs)
    full["modelId"] = model.id
    return full


def parse_flag(name: str, raw: str | None) -> bool:
    """A query flag such as dryRun: absent, `true` or `false`."""
    if raw is None:
        return False
    lowered = raw.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0", ""):
        return False
    raise _bad(name, "must be true or false")
