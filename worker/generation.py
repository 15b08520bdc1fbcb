"""What one generation asks Scenario for, checked before anything is queued."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_MODEL_ID = "flux.1-dev"
MAX_SAMPLES = 8
MIN_SIZE_PX = 128
MAX_SIZE_PX = 2048
MAX_PROMPT_CHARS = 4000


@dataclass(frozen=True)
class GenerationRequest:
    """The parameters of one txt2img generation, named as in Python."""

    prompt: str
    model_id: str = DEFAULT_MODEL_ID
    width: int = 1024
    height: int = 1024
    num_samples: int = 1
    guidance: float | None = None
    num_inference_steps: int | None = None
    negative_prompt: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        problem = first_problem(self)
        if problem:
            raise ValueError(problem)

    def to_params(self) -> dict[str, Any]:
        """The request body Scenario's txt2img call takes (camelCase, unset fields left out)."""
        params: dict[str, Any] = {
            "modelId": self.model_id,
            "prompt": self.prompt,
            "width": self.width,
            "height": self.height,
            "numSamples": self.num_samples,
        }
        optional = {
            "guidance": self.guidance,
            "numInferenceSteps": self.num_inference_steps,
            "negativePrompt": self.negative_prompt,
            "seed": self.seed,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> GenerationRequest:
        """The inverse of `to_params`, for replaying a stored job."""
        names = {v: k for k, v in _CAMEL.items()}
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"{unknown[0]}: not a generation parameter this worker sends")
        return cls(**{names[k]: v for k, v in params.items()})


_CAMEL = {
    "prompt": "prompt",
    "model_id": "modelId",
    "width": "width",
    "height": "height",
    "num_samples": "numSamples",
    "guidance": "guidance",
    "num_inference_steps": "numInferenceSteps",
    "negative_prompt": "negativePrompt",
    "seed": "seed",
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def first_problem(req: GenerationRequest) -> str | None:
    """The first thing wrong with a request, as `field: what is wrong, what to do`, or None."""
    if not isinstance(req.prompt, str) or not req.prompt.strip():
        return "prompt: must be a non-empty string"
    if len(req.prompt) > MAX_PROMPT_CHARS:
        return f"prompt: is {len(req.prompt)} characters long; keep it to {MAX_PROMPT_CHARS}"
    if not isinstance(req.model_id, str) or not req.model_id.strip():
        return "model_id: must be a non-empty string such as 'flux.1-dev'"
    for name in ("width", "height"):
        value = getattr(req, name)
        if not _is_int(value):
            return f"{name}: must be a whole number of pixels, got {value!r}"
        if not MIN_SIZE_PX <= value <= MAX_SIZE_PX or value % 8:
            return f"{name}: {value} px is not allowed; use a multiple of 8 from {MIN_SIZE_PX} to {MAX_SIZE_PX}"
    if not _is_int(req.num_samples) or not 1 <= req.num_samples <= MAX_SAMPLES:
        return f"num_samples: must be a whole number from 1 to {MAX_SAMPLES}, got {req.num_samples!r}"
    if req.guidance is not None and (not _is_number(req.guidance) or not 0 <= req.guidance <= 20):
        return f"guidance: must be a number from 0 to 20, got {req.guidance!r}"
    if req.num_inference_steps is not None and (
        not _is_int(req.num_inference_steps) or not 1 <= req.num_inference_steps <= 100
    ):
        return f"num_inference_steps: must be a whole number from 1 to 100, got {req.num_inference_steps!r}"
    if req.negative_prompt is not None and not isinstance(req.negative_prompt, str):
        return "negative_prompt: must be a string"
    if req.seed is not None and (not _is_int(req.seed) or not 0 <= req.seed < 2**32):
        return f"seed: must be a whole number from 0 to {2**32 - 1}, got {req.seed!r}"
    return None
