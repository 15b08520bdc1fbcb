"""What the listing commands share: argument types and plain-text tables."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def fail(args: argparse.Namespace, message: str, *, code: int = 1, kind: str = "Refused") -> int:
    """A command that cannot do what was asked: one line on stderr, or under --json a JSON error
    on stdout (`{"error": {"type", "message", "exit_code"}}`); returns the exit code."""
    if getattr(args, "json", False):
        print(json_error(kind, message, code))
    else:
        print(f"scenario-worker: {message}", file=sys.stderr)
    return code


def json_error(kind: str, message: str, code: int) -> str:
    return json.dumps({"error": {"type": kind, "message": message, "exit_code": code}})


def add_json(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON (errors too)")


def parse_when(text: str, now: datetime) -> datetime:
    """A moment from an ISO date or datetime (UTC unless it says otherwise), or a duration back from `now`."""
    cleaned = text.strip()
    duration = _DURATION.fullmatch(cleaned.lower())
    if duration:
        return now - timedelta(seconds=int(duration[1]) * _UNIT_S[duration[2]])
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a date (2025-01-31, 2025-01-31T12:00:00Z) nor a duration (30m, 12h, 7d)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def when_arg(text: str) -> datetime:
    """argparse type: a date or a duration back from now."""
    try:
        return parse_when(text, datetime.now(timezone.utc))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def past_when_arg(text: str) -> datetime:
    """argparse type: a date or a duration back from now, never a moment still to come."""
    now = datetime.now(timezone.utc)
    try:
        moment = parse_when(text, now)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if moment > now:
        raise argparse.ArgumentTypeError(f"{text!r} is in the future; give a past date or a duration (30d)")
    return moment


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=False)] + [str(row[-1])]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def positive_float(text: str) -> float:
    """argparse type: a number greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value
