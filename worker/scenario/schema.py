"""A model's input schema and the checks Scenario applies to it: pure code, no I/O.

`ModelSchema.from_model(model)` reads the `inputs` of a `GET /models/{id}` answer;
`check(values)` returns the inputs to send (defaults applied) or raises one
`InputError` listing every problem, so a manifest with three mistakes is fixed
in one go rather than three round trips (each a 400 from Scenario).

`required` comes in the forms `{"always": true}`, `{"ifDefined": name}`,
`{"ifNotDefined": name}` and `{"conditional": cond | [cond, ...]}` where each cond is
`{"input": name, "values": [...]}` or `{"input": name, "value": x}` (required when
every cond holds). A bare `true` counts as always. Any other form is ignored: the
schema may grow forms this code does not know, and Scenario still checks them.
"Defined" means given by the caller or filled by a default. A value of None counts
as not given.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worker.errors import InputError
from worker.scenario.errors import UnexpectedResponse

__all__ = ["InputError", "InputDef", "ModelSchema"]

_MISSING: Any = object()
# How a type's values are named in messages; a type not listed here accepts anything.
_SCALARS = {
    "boolean": "a boolean",
    "number": "a number",
    "string": "a string",
    "file": "a file id",
    "model": "a model id",
}
_ARRAYS = {
    "number_array": "number",
    "string_array": "string",
    "file_array": "file",
    "model_array": "model",
}
_FILE_TYPES = ("file", "file_array")
# minLength/maxLength count items only for these arrays; for strings they count characters.
_LENGTH_COUNTS_ITEMS = ("string_array", "model_array")
# A value shown in a message is cut to this many characters (a prompt can be thousands).
_SHOWN_MAX_CHARS = 60


@dataclass(frozen=True)
class InputDef:
    """One input definition; unknown keys of Scenario's definition are ignored."""

    name: str
    type: str | None = None
    default: Any = _MISSING
    allowed_values: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    required: Any = None

    @classmethod
    def from_json(cls, raw: Any, *, where: str) -> InputDef:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str) or not raw["name"]:
            raise UnexpectedResponse(f"{where} is not an input definition with a name")
        allowed = raw.get("allowedValues")
        return cls(
            name=raw["name"],
            type=raw["type"] if isinstance(raw.get("type"), str) else None,
            default=raw.get("default", _MISSING),
            allowed_values=tuple(allowed) if isinstance(allowed, list) and allowed else None,
            min=_limit(raw.get("min")),
            max=_limit(raw.get("max")),
            min_length=_limit(raw.get("minLength")),
            max_length=_limit(raw.get("maxLength")),
            required=raw.get("required"),
        )

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING


@dataclass(frozen=True)
class ModelSchema:
    """The inputs of one model, in the model's order."""

    model_id: str
    inputs: tuple[InputDef, ...]

    @classmethod
    def from_model(cls, model: Mapping[str, Any]) -> ModelSchema:
        """From a model object (or a whole `{"model": {...}}` answer); a model without `inputs` takes none."""
        if isinstance(model, Mapping) and isinstance(model.get("model"), Mapping):
            model = model["model"]
        if not isinstance(model, Mapping):
            raise UnexpectedResponse("model schema: the model is not a JSON object")
        model_id = str(model.get("id") or model.get("modelId") or "?")
        raw = model.get("inputs") if model.get("inputs") is not None else []
        if not isinstance(raw, list):
            raise UnexpectedResponse(f"model {model_id}: 'inputs' is not a list")
        inputs = tuple(InputDef.from_json(item, where=f"model {model_id}: inputs[{i}]") for i, item in enumerate(raw))
        return cls(model_id=model_id, inputs=inputs)

    def input(self, name: str) -> InputDef | None:
        return next((d for d in self.inputs if d.name == name), None)

    def file_inputs(self) -> tuple[str, ...]:
        """Names of the inputs that take uploaded files (`file`, `file_array`): local paths go up first."""
        return tuple(d.name for d in self.inputs if d.type in _FILE_TYPES)

    @property
    def takes_seed(self) -> bool:
        return self.input("seed") is not None

    def check(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The inputs to send, with defaults applied for those not given; InputError listing every problem."""
        if not isinstance(values, Mapping):
            raise InputError(self.model_id, [f"model {self.model_id}: the inputs must be an object of name: value"])
        problems: list[str] = []
        given: dict[str, Any] = {}
        for name, value in values.items():
            definition = self.input(name) if isinstance(name, str) else None
            if definition is None:
                problems.append(self._unknown(name))
            elif value is not None:
                value = _as_seed(definition, value)
                problems.extend(f"input {p}" for p in value_problems(definition, value))
                given[name] = value
        filled = dict(given)
        for definition in self.inputs:
            if definition.name not in filled and definition.has_default:
                filled[definition.name] = copy.deepcopy(definition.default)
        for definition in self.inputs:
            if definition.name not in filled:
                why = required_because(definition.required, filled)
                if why is not None:
                    problems.append(f"input {definition.name} is required{why}")
        if problems:
            raise InputError(self.model_id, [f"model {self.model_id}: {p}" for p in problems])
        return filled

    def _unknown(self, name: Any) -> str:
        names = [d.name for d in self.inputs]
        close = difflib.get_close_matches(str(name), names, n=1)
        if close:
            return f"unknown input {_shown(name)}; did you mean {_shown(close[0])}?"
        return f"unknown input {_shown(name)}; the inputs are {', '.join(names) or 'none'}"


def _as_seed(definition: InputDef, value: Any) -> Any:
    # Scenario's seeds are strings (a 64-bit seed does not survive a JSON number in every
    # client), but callers and manifests naturally write `seed: 42`: send it as "42".
    if (
        definition.name == "seed"
        and definition.type == "string"
        and isinstance(value, int)
        and not isinstance(value, bool)
    ):
        return str(value)
    return value


def value_problems(definition: InputDef, value: Any) -> list[str]:
    """What is wrong with `value` for `definition`, each as `<name>: <problem>`; empty when it is fine."""
    name, kind = definition.name, definition.type
    if kind in _SCALARS:
        if not _is_a(kind, value):
            return [f"{name}: {_shown(value)} is not {_SCALARS[kind]}"]
        problems = _scalar_limits(definition, value)
        if definition.allowed_values is not None and value not in definition.allowed_values:
            problems.append(f"{_shown(value)} is not allowed; allowed: {_listed(definition.allowed_values)}")
        return [f"{name}: {p}" for p in problems]
    if kind in _ARRAYS or kind == "inputs_array":
        item_type = _ARRAYS.get(kind)
        noun = f"a list of {_SCALARS[item_type][2:]}s" if item_type else "a list of objects"
        if not isinstance(value, (list, tuple)):
            return [f"{name}: {_shown(value)} is not {noun}"]
        problems = [f"{name}: {p}" for p in _count_limits(definition, len(value))]
        for i, item in enumerate(value):
            if item_type is None:
                if not isinstance(item, Mapping):
                    problems.append(f"{name}[{i}]: {_shown(item)} is not an object")
            elif not _is_a(item_type, item):
                problems.append(f"{name}[{i}]: {_shown(item)} is not {_SCALARS[item_type]}")
            elif definition.allowed_values is not None and item not in definition.allowed_values:
                problems.append(
                    f"{name}[{i}]: {_shown(item)} is not allowed; allowed: {_listed(definition.allowed_values)}"
                )
        return problems
    return []  # no type, or one this code does not know: anything goes


def _is_a(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "number":
        # bool is an int subclass, but `true` is not a number of steps.
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "string":
        return isinstance(value, str)
    return isinstance(value, str) and bool(value.strip())  # file, model: an id


def _scalar_limits(definition: InputDef, value: Any) -> list[str]:
    problems: list[str] = []
    if definition.type == "number":
        if definition.min is not None and value < definition.min:
            problems.append(f"{_shown(value)} is below the minimum {_number(definition.min)}")
        if definition.max is not None and value > definition.max:
            problems.append(f"{_shown(value)} is above the maximum {_number(definition.max)}")
    if definition.type == "string":
        length = len(value)
        if definition.min_length is not None and length < definition.min_length:
            problems.append(f"is {length} characters long; at least {_number(definition.min_length)} are needed")
        if definition.max_length is not None and length > definition.max_length:
            problems.append(f"is {length} characters long; at most {_number(definition.max_length)} are allowed")
    return problems


def _count_limits(definition: InputDef, count: int) -> list[str]:
    """min/max count the items of every array; minLength/maxLength those of string and model arrays."""
    lows = [definition.min] + ([definition.min_length] if definition.type in _LENGTH_COUNTS_ITEMS else [])
    highs = [definition.max] + ([definition.max_length] if definition.type in _LENGTH_COUNTS_ITEMS else [])
    low = max((x for x in lows if x is not None), default=None)
    high = min((x for x in highs if x is not None), default=None)
    problems: list[str] = []
    if low is not None and count < low:
        problems.append(f"has {count} items; at least {_number(low)} are needed")
    if high is not None and count > high:
        problems.append(f"has {count} items; at most {_number(high)} are allowed")
    return problems


def required_because(required: Any, filled: Mapping[str, Any]) -> str | None:
    """Why an input that is not defined is required (`""` for always), or None when it is not."""
    if required is True:
        return ""
    if not isinstance(required, Mapping):
        return None
    if required.get("always") is True:
        return ""
    other = required.get("ifDefined")
    if isinstance(other, str) and other in filled:
        return f" when {other} is given"
    other = required.get("ifNotDefined")
    if isinstance(other, str) and other not in filled:
        return f" when {other} is not given"
    conditions = _conditions(required.get("conditional"))
    if conditions and all(name in filled and filled[name] in allowed for name, allowed in conditions):
        return " when " + " and ".join(f"{name} is {_listed(allowed, joiner=' or ')}" for name, allowed in conditions)
    return None


def _conditions(raw: Any) -> list[tuple[str, tuple[Any, ...]]] | None:
    """`conditional` as (input, allowed values) pairs; None when any part of it is a form not known here."""
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list) or not items:
        return None
    pairs: list[tuple[str, tuple[Any, ...]]] = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("input"), str):
            return None
        if isinstance(item.get("values"), list):
            pairs.append((item["input"], tuple(item["values"])))
        elif "value" in item:
            pairs.append((item["input"], (item["value"],)))
        else:
            return None
    return pairs


def _limit(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        return None
    return raw


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOWN_MAX_CHARS else text[: _SHOWN_MAX_CHARS - 3] + "..."


def _listed(values: tuple[Any, ...], *, joiner: str = ", ") -> str:
    return joiner.join(_shown(v) for v in values)
