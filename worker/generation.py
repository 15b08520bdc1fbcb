"""What one generation asks Scenario for: a model and its inputs, checked before anything is queued.

Any input a model declares can be given, in Python's snake_case (`aspect_ratio`) or
Scenario's camelCase (`aspectRatio`); the body sent is always camelCase. The checks
here are the ones that hold whatever the model: a model's own schema is applied on
top of them by `worker.preflight`, where Scenario's answer about the model is known.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from worker.textcheck import check_identifier, check_text

DEFAULT_MODEL_ID = "flux.1-dev"
MAX_SAMPLES = 8
MIN_SIZE_PX = 64
MAX_SIZE_PX = 2048
MAX_PROMPT_CHARS = 4000
MAX_SEED = 2**32 - 1

# The inputs this worker knew before models described their own, by their Python names.
LEGACY_FIELDS = (
    "width",
    "height",
    "num_samples",
    "guidance",
    "num_inference_steps",
    "negative_prompt",
    "seed",
)


def camel(name: str) -> str:
    """`num_inference_steps` -> `numInferenceSteps`; a camelCase name is left as it is."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    """`numInferenceSteps` -> `num_inference_steps`, for messages in the caller's spelling."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class GenerationRequest:
    """One generation: the model and the inputs a person gave it (camelCase), nothing filled in."""

    __slots__ = ("model_id", "inputs")

    def __init__(
        self,
        prompt: str | None = None,
        *,
        model_id: str = DEFAULT_MODEL_ID,
        inputs: Mapping[str, Any] | None = None,
        **named: Any,
    ) -> None:
        given: dict[str, Any] = {}
        spelled: dict[str, str] = {}
        for name, value in [*(inputs or {}).items(), *named.items()]:
            if value is None:
                continue  # an optional input left unset
            if not isinstance(name, str) or not name:
                raise ValueError(f"inputs: every input name must be a non-empty string, got {name!r}")
            key = camel(name)
            if key in given:
                raise ValueError(f"{name}: is given twice (also as {spelled[key]}); keep one")
            given[key], spelled[key] = value, name
        if prompt is not None:
            if "prompt" in given:
                raise ValueError("prompt: is given twice; keep one")
            given["prompt"], spelled["prompt"] = prompt, "prompt"
        if "modelId" in given:
            raise ValueError("modelId: give the model as model_id, not as an input")
        problem = model_problem(model_id) or next(
            (f"{spelled[k]}: {p}" for k, v in given.items() if (p := input_problem(k, v))), None
        )
        if problem:
            raise ValueError(problem)
        if "seed" in given:
            # Scenario's seeds are strings; an int is the same seed written another way.
            given["seed"] = str(given["seed"])
        object.__setattr__(self, "model_id", model_id)
        object.__setattr__(self, "inputs", given)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a GenerationRequest cannot be changed; build another")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GenerationRequest):
            return NotImplemented
        return (self.model_id, self.inputs) == (other.model_id, other.inputs)

    def __hash__(self) -> int:
        return hash((self.model_id, tuple(sorted((k, repr(v)) for k, v in self.inputs.items()))))

    def __repr__(self) -> str:
        return f"GenerationRequest(model_id={self.model_id!r}, inputs={self.inputs!r})"

    @property
    def prompt(self) -> str | None:
        return self.inputs.get("prompt")

    @property
    def num_samples(self) -> int:
        value = self.inputs.get("numSamples", 1)
        return value if _is_int(value) else 1

    def __getattr__(self, name: str) -> Any:
        # The inputs this worker always knew stay readable as attributes (`request.width`).
        if name in LEGACY_FIELDS:
            return self.inputs.get(camel(name))
        raise AttributeError(f"GenerationRequest has no attribute {name!r}")

    def get(self, name: str) -> Any:
        """One input by either spelling, or None."""
        return self.inputs.get(camel(name))

    def with_inputs(self, inputs: Mapping[str, Any]) -> GenerationRequest:
        """The same model with these inputs instead (e.g. with the model's defaults applied)."""
        return GenerationRequest(model_id=self.model_id, inputs=inputs)

    def to_params(self) -> dict[str, Any]:
        """What is stored for the job: `modelId` and every input, camelCase."""
        return {"modelId": self.model_id, **self.inputs}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> GenerationRequest:
        """The inverse of `to_params`, for replaying a stored job."""
        rest = dict(params)
        model_id = rest.pop("modelId", DEFAULT_MODEL_ID)
        return cls(model_id=model_id, inputs=rest)


def inputs_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """A stored job's inputs: its params without the model id (the body of the custom route)."""
    return {k: v for k, v in params.items() if k != "modelId"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


# Any text input, however long a model allows it; a prompt has its own, tighter bound.
MAX_TEXT_CHARS = 100_000


def model_problem(model_id: Any) -> str | None:
    if not isinstance(model_id, str) or not model_id.strip():
        return "model_id: must be a non-empty string such as 'flux.1-dev'"
    return _refusal(check_identifier, "model_id", model_id, field_named=True)


def _refusal(check: Any, field: str, value: Any, *, field_named: bool = False, **limits: Any) -> str | None:
    """What a `worker.textcheck` check says of a value, or None when it passes."""
    try:
        check(field, value, **limits)
    except ValueError as exc:
        return str(exc) if field_named else str(exc).partition(": ")[2]
    return None


def input_problem(name: str, value: Any) -> str | None:
    """What is wrong with one input whatever the model, as `what is wrong, what to do`, or None."""
    rule = _KNOWN.get(name)
    if rule is not None:
        return rule(value)
    return _value_problem(value)


def _value_problem(value: Any, depth: int = 0) -> str | None:
    """Inputs travel as JSON: text, finite numbers, booleans, and lists or objects of those."""
    if isinstance(value, str):
        return _refusal(check_text, "-", value, max_chars=MAX_TEXT_CHARS, allow_empty=True)
    if isinstance(value, bool) or _is_int(value):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"must be a finite number, got {value!r}"
    if depth < 3 and isinstance(value, (list, tuple)):
        return next((p for item in value if (p := _value_problem(item, depth + 1))), None)
    if depth < 3 and isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            return "must be an object whose keys are strings"
        return next((p for item in value.values() if (p := _value_problem(item, depth + 1))), None)
    return f"must be text, a number, a boolean or a list of those, not {type(value).__name__}"


def _prompt(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_PROMPT_CHARS:
        return f"is {len(value)} characters long; keep it to {MAX_PROMPT_CHARS}"
    return _refusal(check_text, "-", value, max_chars=MAX_PROMPT_CHARS)


def _size(value: Any) -> str | None:
    if not _is_int(value):
        return f"must be a whole number of pixels, got {value!r}"
    if not MIN_SIZE_PX <= value <= MAX_SIZE_PX or value % 8:
        return f"{value} px is not allowed; use a multiple of 8 from {MIN_SIZE_PX} to {MAX_SIZE_PX}"
    return None


def _samples(value: Any) -> str | None:
    if not _is_int(value) or not 1 <= value <= MAX_SAMPLES:
        return f"must be a whole number from 1 to {MAX_SAMPLES}, got {value!r}"
    return None


def _guidance(value: Any) -> str | None:
    if not _is_number(value) or not 0 <= value <= 20:
        return f"must be a number from 0 to 20, got {value!r}"
    return None


def _steps(value: Any) -> str | None:
    if not _is_int(value) or not 1 <= value <= 150:
        return f"must be a whole number from 1 to 150, got {value!r}"
    return None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    return _refusal(check_text, "-", value, max_chars=MAX_PROMPT_CHARS, allow_empty=True)


def _seed(value: Any) -> str | None:
    # A string of digits or a whole number; Scenario keeps it as a string.
    number = int(value) if isinstance(value, str) and value.isdigit() and value.isascii() else value
    if not _is_int(number) or not 0 <= number <= MAX_SEED:
        return f"must be a whole number from 0 to {MAX_SEED}, got {value!r}"
    return None


_KNOWN = {
    "prompt": _prompt,
    "width": _size,
    "height": _size,
    "numSamples": _samples,
    "guidance": _guidance,
    "numInferenceSteps": _steps,
    "negativePrompt": _text,
    "seed": _seed,
}
