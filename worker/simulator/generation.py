"""What a generation request becomes before a job exists: its full inputs, its output size, its cost."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from worker.simulator.assets import Asset, upscaled_size
from worker.simulator.messages import ApiError
from worker.simulator.models import SIZE_STEP_PX, Model
from worker.simulator.schema import FileLookup, bad, check_values
from worker.simulator.validation import parse_flag, validate_inputs, with_defaults

# Seeds the service picks when none was sent: Scenario's range, written as a string.
SEED_RANGE = 2**32
AssetFinder = Callable[[str], "Asset | None"]


def pick_seed() -> str:
    # Not drawn from the fault seed, so picking one never shifts the faults a run gets.
    return str(secrets.randbelow(SEED_RANGE))


def _check_model_rules(model: Model, full: dict[str, Any]) -> None:
    """What the service refuses beyond the published schema: fractions where whole numbers go, sizes off the grid."""
    for name in model.whole_numbers:
        if name in full and float(full[name]) != int(full[name]):
            raise bad(name, "must be a whole number")
    for name in model.multiples_of_step:
        if name in full and int(full[name]) % SIZE_STEP_PX:
            raise bad(name, f"must be a multiple of {SIZE_STEP_PX}")


def custom_inputs(model: Model, body: Any, lookup: FileLookup) -> dict[str, Any]:
    """POST /generate/custom/{modelId}: the inputs as sent plus defaults, and a seed when the model takes one."""
    full = check_values(model.inputs, body, owner=model.id, lookup=lookup)
    _check_model_rules(model, full)
    if model.takes("seed") and "seed" not in full:
        full["seed"] = pick_seed()
    return {"modelId": model.id, **full}


def legacy_inputs(body: Any) -> tuple[str, dict[str, Any]]:
    """POST /generate/txt2img: (model id, the inputs as sent); the older checks, an int seed allowed."""
    inputs = validate_inputs(body, model_in_body=True)
    return inputs.pop("modelId"), inputs


def legacy_full(model: Model, inputs: dict[str, Any]) -> dict[str, Any]:
    """The older route's metadata.input, with the seed echoed as a string as the service does now."""
    if not model.is_text_to_image:
        raise bad("modelId", f"{model.id} does not generate images from text; use /generate/custom/{model.id}")
    full = with_defaults(inputs, model)
    full["seed"] = str(full["seed"]) if "seed" in full else pick_seed()
    return full


def output_size(model: Model, full: dict[str, Any], find: AssetFinder) -> tuple[int, int] | None:
    """Pixel size of an image job's outputs when its inputs' width/height do not say it."""
    if model.job_type == "upscale":
        source = find(full["image"])
        width, height = (source.width or 1024, source.height or 1024) if source else (1024, 1024)
        return upscaled_size(width, height, float(full.get("scaleFactor", 2)))
    if model.output == "image" and "width" not in full:
        first = full.get("image") or (full.get("referenceImages") or [None])[0]
        source = find(first) if first else None
        if source is not None and source.width:
            return source.width, source.height or source.width
        return 1024, 1024
    return None


def parse_dry_run(raw: str | None) -> bool:
    """`?dryRun=true` or `?dryRun=api` ask for the cost alone."""
    if raw is not None and raw.strip().lower() == "api":
        return True
    return parse_flag("dryRun", raw)


def ensure_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body
