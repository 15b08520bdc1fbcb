"""Checks at the door for every text and number a person or a program hands in.

Pure functions: each returns the value it was given when it is acceptable and
raises ValueError naming the field and what is allowed when it is not, before
anything is recorded, queued or sent to Scenario.
"""

from __future__ import annotations

import math
import re
from typing import Any

# Tab, newline and carriage return are ordinary in prompts; the rest of C0 (and DEL)
# only ever arrive by mistake or on purpose to confuse a log, a terminal or a file.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_IDENTIFIER = re.compile(r"[A-Za-z0-9._:-]+")
IDENTIFIER_MAX_CHARS = 128


def check_text(field: str, value: Any, *, max_chars: int, allow_empty: bool = False) -> str:
    """A string that can be stored, logged and sent as UTF-8: no NUL, no other control characters
    except tab, newline and CR, no unpaired surrogates, at most `max_chars` characters."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: must be text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{field}: must not be empty or only spaces")
    if len(value) > max_chars:
        raise ValueError(f"{field}: {len(value)} characters is too long; at most {max_chars} are allowed")
    control = _CONTROL.search(value)
    if control is not None:
        raise ValueError(
            f"{field}: control character {control.group()!r} at position {control.start()} is not allowed; "
            "only tab, newline and carriage return are"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{field}: character {value[exc.start]!r} at position {exc.start} is not valid Unicode text "
            "(an unpaired surrogate); only text that encodes as UTF-8 is allowed"
        ) from None
    return value


def check_identifier(field: str, value: Any, *, max_chars: int = IDENTIFIER_MAX_CHARS) -> str:
    """An id such as a model or asset id: letters, digits and `._-:` only, not `.` nor containing `..`,
    at most `max_chars` characters."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: must be text, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{field}: must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"{field}: {len(value)} characters is too long; at most {max_chars} are allowed")
    if _IDENTIFIER.fullmatch(value) is None:
        raise ValueError(f"{field}: {_shown(value)} is not allowed; use only letters, digits and . _ - :")
    if value == "." or ".." in value:
        # Ids end up in paths and URLs, where `.` and `..` name a folder, not a thing.
        raise ValueError(f"{field}: {_shown(value)} is not allowed; an id may not be '.' or contain '..'")
    return value


def check_number(
    field: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
) -> int | float:
    """A finite number (a whole one with `integer`) from `low` to `high` inclusive; never a bool."""
    allowed = _allowed_range(low, high, integer)
    kinds = (int,) if integer else (int, float)
    # bool is an int to Python, but True for a number of seconds is always a mistake.
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValueError(f"{field}: must be {allowed}, got {_shown(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{field}: {value!r} is not a finite number; must be {allowed}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{field}: {value!r} is out of range; must be {allowed}")
    return value


def _allowed_range(low: float | None, high: float | None, integer: bool) -> str:
    kind = "a whole number" if integer else "a number"
    if low is not None and high is not None:
        return f"{kind} from {low:g} to {high:g}"
    if low is not None:
        return f"{kind} of at least {low:g}"
    if high is not None:
        return f"{kind} of at most {high:g}"
    return f"a finite {kind.removeprefix('a ')}"


def _shown(value: Any) -> str:
    """A short repr, so a megabyte of input never becomes a megabyte of error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
