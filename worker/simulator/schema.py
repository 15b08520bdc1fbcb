"""Checks of a generation's inputs against its model's input definitions (the contract's schema).

Pure functions: the caller says which asset ids the API key can see, and gets back
the inputs as sent plus the defaults applied, or an ApiError 400 naming the input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from worker.simulator.messages import ApiError

# How to read an asset id for a file input: its size in bytes, or None when the key cannot see it.
FileLookup = Callable[[str], "int | None"]
_ARRAY_ITEM_TYPES = {
    "number_array": "number",
    "string_array": "string",
    "file_array": "file",
    "model_array": "model",
    "inputs_array": "inputs",
}
# Arrays whose item count minLength/maxLength bound (for the others, min/max do).
_LENGTH_COUNTED = frozenset({"string_array", "model_array"})


def bad(name: str, what: str) -> ApiError:
    return ApiError(400, f'"{name}" {what}')


def is_number(value: Any) -> bool:
    """int or finite float, but not bool (which Python counts as an int)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "number":
        return is_number(value)
    if kind in ("string", "file", "model"):
        return isinstance(value, str)
    if kind == "inputs":
        return isinstance(value, dict)
    return False


_TYPE_WORDS = {
    "boolean": "a boolean",
    "number": "a number",
    "string": "a string",
    "file": "an asset id (a string)",
    "model": "a model id (a string)",
    "inputs": "an object",
}


def _check_bounds(name: str, definition: Mapping[str, Any], value: Any) -> None:
    low, high = definition.get("min"), definition.get("max")
    if low is not None and value < low or high is not None and value > high:
        raise bad(name, f"must be between {_fmt(low)} and {_fmt(high)}")


def _fmt(bound: Any) -> str:
    return "-inf" if bound is None else f"{bound:g}" if isinstance(bound, float) else str(bound)


def _check_count(name: str, low: Any, high: Any, count: int) -> None:
    if low is not None and count < low:
        raise bad(name, f"must hold at least {low} items, got {count}")
    if high is not None and count > high:
        raise bad(name, f"must hold at most {high} items, got {count}")


def _check_file(name: str, definition: Mapping[str, Any], asset_id: str, lookup: FileLookup) -> None:
    size = lookup(asset_id)
    if size is None:
        raise bad(name, f"must be an asset id this API key can see, got {asset_id!r}")
    limit = definition.get("maxSize")
    if limit is not None and size > limit:
        raise bad(name, f"names an asset of {size} bytes, over the {limit} allowed")


def _check_scalar(name: str, kind: str, definition: Mapping[str, Any], value: Any, lookup: FileLookup) -> None:
    if not _type_ok(kind, value):
        raise bad(name, f"must be {_TYPE_WORDS[kind]}")
    allowed = definition.get("allowedValues")
    if allowed is not None and value not in allowed:
        raise bad(name, f"must be one of {', '.join(map(str, allowed))}, got {value!r}")
    if kind == "number":
        _check_bounds(name, definition, value)
    elif kind == "string":
        low, high = definition.get("minLength"), definition.get("maxLength")
        if low is not None and len(value) < low:
            raise bad(name, f"must be at least {low} characters long")
        if high is not None and len(value) > high:
            raise bad(name, f"must be at most {high} characters long")
    elif kind == "file":
        _check_file(name, definition, value, lookup)
    elif kind == "inputs" and "inputs" in definition:
        check_values(definition["inputs"], value, owner=name, lookup=lookup)


def check_value(definition: Mapping[str, Any], value: Any, lookup: FileLookup) -> None:
    """One value against its definition; raises ApiError 400 naming the input."""
    name, kind = definition["name"], definition["type"]
    item_kind = _ARRAY_ITEM_TYPES.get(kind)
    if item_kind is None:
        _check_scalar(name, kind, definition, value, lookup)
        return
    if not isinstance(value, list):
        raise bad(name, f"must be a list of {_TYPE_WORDS[item_kind].removeprefix('a ').removeprefix('an ')}s")
    if kind in _LENGTH_COUNTED:
        _check_count(name, definition.get("minLength"), definition.get("maxLength"), len(value))
    else:
        _check_count(name, definition.get("min"), definition.get("max"), len(value))
    # Items get their type and allowed values checked (and files their visibility); the bounds counted items.
    item_definition = {k: v for k, v in definition.items() if k not in ("min", "max", "minLength", "maxLength")}
    for index, item in enumerate(value):
        _check_scalar(f"{name}[{index}]", item_kind, item_definition, item, lookup)


def _condition_met(condition: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    wanted = condition.get("values", [condition["value"]] if "value" in condition else [])
    return condition.get("input") in values and values[condition["input"]] in wanted


def required_because(required: Any, values: Mapping[str, Any]) -> str | None:
    """Why an input is required given the other values (defaults applied), or None when it is not."""
    if not isinstance(required, Mapping):
        return None
    if required.get("always"):
        return ""
    if "ifDefined" in required and required["ifDefined"] in values:
        return f' when "{required["ifDefined"]}" is given'
    if "ifNotDefined" in required and required["ifNotDefined"] not in values:
        return f' when "{required["ifNotDefined"]}" is not given'
    if "conditional" in required:
        conditions = required["conditional"]
        conditions = [conditions] if isinstance(conditions, Mapping) else list(conditions)
        if conditions and all(_condition_met(c, values) for c in conditions):
            said = " and ".join(f'"{c["input"]}" is {values[c["input"]]!r}' for c in conditions)
            return f" when {said}"
    return None


def check_values(
    definitions: Sequence[Mapping[str, Any]], body: Any, *, owner: str, lookup: FileLookup
) -> dict[str, Any]:
    """The body as sent plus every default, once each value passed its definition and each requirement is met."""
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    by_name = {d["name"]: d for d in definitions}
    for name in body:
        if name not in by_name:
            raise bad(name, f"is not an input of {owner}")
    for name, value in body.items():
        check_value(by_name[name], value, lookup)
    full = dict(body)
    for definition in definitions:
        if definition["name"] not in full and "default" in definition:
            full[definition["name"]] = definition["default"]
    for definition in definitions:
        reason = required_because(definition.get("required"), full)
        if reason is not None and definition["name"] not in full:
            raise bad(definition["name"], f"is required{reason}")
    return full
