"""Each model's input schema, as GET /models answers it under `inputs` (the contract's definitions)."""

from __future__ import annotations

from typing import Any

ASPECT_RATIOS = ["1:1", "16:9", "9:16", "4:3", "3:4"]
SCHEDULERS = ["euler", "euler_a", "dpmpp_2m", "ddim"]
UPSCALE_STYLES = ["standard", "sharp", "soft"]
ALWAYS = {"always": True}
COSTLY = {"costImpact": True}
IF_REFERENCES = {"ifDefined": "referenceImages"}


def image_inputs(*, default_guidance: float, default_steps: int) -> tuple[dict[str, Any], ...]:
    """What a text-to-image model takes (flux and the LoRAs trained on it)."""
    return (
        {"name": "prompt", "type": "string", "required": ALWAYS, "minLength": 1, "maxLength": 4000, "label": "Prompt"},
        {"name": "negativePrompt", "type": "string", "maxLength": 4000, "label": "Negative prompt"},
        {"name": "numSamples", "type": "number", "min": 1, "max": 8, "default": 1, "costImpact": True},
        {"name": "width", "type": "number", "min": 64, "max": 2048, "default": 1024, "costImpact": True},
        {"name": "height", "type": "number", "min": 64, "max": 2048, "default": 1024, "costImpact": True},
        {"name": "aspectRatio", "type": "string", "allowedValues": list(ASPECT_RATIOS)},
        {"name": "guidance", "type": "number", "min": 0, "max": 20, "default": default_guidance},
        {"name": "numInferenceSteps", "type": "number", "min": 1, "max": 50, "default": default_steps, **COSTLY},
        {"name": "seed", "type": "string", "description": "A whole number written as a string"},
        {"name": "scheduler", "type": "string", "allowedValues": list(SCHEDULERS)},
        {"name": "referenceImages", "type": "file_array", "kind": "image", "max": 4},
        {"name": "referenceStrength", "type": "number", "min": 0, "max": 1, "required": IF_REFERENCES},
    )


UPSCALE_INPUTS = (
    {"name": "image", "type": "file", "kind": "image", "required": ALWAYS, "maxSize": 10 * 1024 * 1024},
    {"name": "scaleFactor", "type": "number", "allowedValues": [2, 4], "default": 2, "costImpact": True},
    {"name": "style", "type": "string", "allowedValues": list(UPSCALE_STYLES), "default": "standard"},
    {"name": "prompt", "type": "string", "maxLength": 4000},
)

EDIT_INPUTS = (
    {"name": "prompt", "type": "string", "required": ALWAYS, "minLength": 1, "maxLength": 4000},
    {"name": "image", "type": "file", "kind": "image", "required": {"ifNotDefined": "referenceImages"}},
    {"name": "referenceImages", "type": "file_array", "kind": "image", "min": 1, "max": 3},
    {"name": "mode", "type": "string", "allowedValues": ["edit", "inpaint"], "default": "edit"},
    {
        "name": "mask",
        "type": "file",
        "kind": "image",
        "required": {"conditional": [{"input": "mode", "values": ["inpaint"]}]},
    },
    {"name": "tags", "type": "string_array", "maxLength": 5},
    {"name": "seed", "type": "string"},
)

AUDIO_INPUTS = (
    {"name": "prompt", "type": "string", "required": ALWAYS, "minLength": 1, "maxLength": 2000},
    {"name": "durationSeconds", "type": "number", "min": 1, "max": 30, "default": 5, "label": "Duration (s)"},
    {"name": "loop", "type": "boolean", "default": False},
)

MESH_INPUTS = (
    {"name": "image", "type": "file", "kind": "image", "required": ALWAYS},
    {"name": "textured", "type": "boolean", "default": True},
)
