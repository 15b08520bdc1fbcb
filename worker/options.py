"""How a job is to be run, kept apart from what the model is asked to make.

A model's inputs are open-ended (every model declares its own), so the options that steer the
job itself travel in one object of their own: no model input can ever be taken for one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

# A deadline further out than this is a mistake in units, not a plan.
MAX_DEADLINE_S = 7 * 86_400
# Lower runs first among jobs of one class; the default sits in the middle of the range.
PRIORITY_MIN, PRIORITY_MAX, DEFAULT_PRIORITY = 0, 9, 5
MAX_IDEMPOTENCY_KEY_CHARS = 200
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_CALLBACK_URL_CHARS = 2_000
# Metadata is stored on the job row and sent back in callbacks: small, JSON, flat enough to search.
MAX_METADATA_BYTES = 8_192

_KEY = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True, kw_only=True)
class JobOptions:
    """How to run a job: every field optional, every one checked when the options are made.

    - `idempotency_key`: the same key enqueued twice gives the first call's job (a retried web
      request pays once); printable ASCII without spaces, at most 200 characters.
    - `tags`, `metadata`: kept on the job row to find it by, and sent back with its end.
    - `priority`: 0 (first) to 9 (last) among jobs of its class; default 5.
    - `not_before`: not submitted before this moment (timezone-aware).
    - `deadline_s`: how long the job may take from now, queueing included.
    - `callback_url`: an http(s) URL told when the job ends.
    """

    idempotency_key: str | None = None
    tags: Sequence[str] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    priority: int = DEFAULT_PRIORITY
    not_before: datetime | None = None
    deadline_s: float | None = None
    callback_url: str | None = None

    def __post_init__(self) -> None:
        check_options(self)
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "metadata", dict(self.metadata))
        if self.not_before is not None:
            object.__setattr__(self, "not_before", self.not_before.astimezone(timezone.utc))


OPTION_NAMES = frozenset(JobOptions.__dataclass_fields__)


def check_options(options: JobOptions) -> None:
    """Raise ValueError naming the first option that is wrong."""
    for name, problem in _problems(options):
        raise ValueError(f"options.{name}: {problem}")


def _problems(o: JobOptions) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if o.idempotency_key is not None:
        key = o.idempotency_key
        if not isinstance(key, str) or not _KEY.match(key) or len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
            found.append(
                (
                    "idempotency_key",
                    f"must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters without spaces, got {key!r}",
                )
            )
    if isinstance(o.tags, str) or not isinstance(o.tags, Sequence):
        found.append(("tags", f"must be a list of strings, got {type(o.tags).__name__}"))
    elif len(o.tags) > MAX_TAGS:
        found.append(("tags", f"at most {MAX_TAGS} tags, got {len(o.tags)}"))
    else:
        for tag in o.tags:
            if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_CHARS:
                found.append(
                    ("tags", f"each tag is a non-empty string of at most {MAX_TAG_CHARS} characters, got {tag!r}")
                )
                break
    if not isinstance(o.metadata, Mapping):
        found.append(("metadata", f"must be a mapping, got {type(o.metadata).__name__}"))
    else:
        problem = _metadata_problem(o.metadata)
        if problem:
            found.append(("metadata", problem))
    if (
        isinstance(o.priority, bool)
        or not isinstance(o.priority, int)
        or not PRIORITY_MIN <= o.priority <= PRIORITY_MAX
    ):
        found.append(("priority", f"must be a whole number from {PRIORITY_MIN} to {PRIORITY_MAX}, got {o.priority!r}"))
    if o.not_before is not None and (not isinstance(o.not_before, datetime) or o.not_before.tzinfo is None):
        found.append(("not_before", f"must be a timezone-aware datetime, got {o.not_before!r}"))
    if o.deadline_s is not None:
        problem = deadline_problem(o.deadline_s)
        if problem:
            found.append(("deadline_s", problem))
    if o.callback_url is not None:
        problem = _url_problem(o.callback_url)
        if problem:
            found.append(("callback_url", problem))
    return found


def deadline_problem(deadline_s: Any) -> str | None:
    ok = isinstance(deadline_s, (int, float)) and not isinstance(deadline_s, bool)
    if not ok or not math.isfinite(deadline_s) or not 0 < deadline_s <= MAX_DEADLINE_S:
        return f"must be a number of seconds greater than 0 and at most {MAX_DEADLINE_S}, got {deadline_s!r}"
    return None


def _metadata_problem(metadata: Mapping[str, Any]) -> str | None:
    import json

    for key in metadata:
        if not isinstance(key, str):
            return f"keys must be strings, got {key!r}"
    try:
        size = len(json.dumps(metadata, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        return f"must be JSON (strings, numbers, booleans, lists, mappings): {exc}"
    if size > MAX_METADATA_BYTES:
        return f"at most {MAX_METADATA_BYTES} bytes as JSON, got {size}"
    return None


def _url_problem(url: Any) -> str | None:
    if not isinstance(url, str) or len(url) > MAX_CALLBACK_URL_CHARS:
        return f"must be an http or https URL of at most {MAX_CALLBACK_URL_CHARS} characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http or https URL with a host, got {url!r}"
    if parts.username or parts.password:
        return "must not carry credentials: the callback is signed with its endpoint's secret instead"
    return None


# Names a caller may reach for as keyword arguments that steer the job, not the model: given
# among the model's inputs, they would be sent to Scenario (or refused by it) instead of obeyed.
# (`enqueue_generation` takes `deadline_s=` itself, so there it never reaches the inputs.)
OPTION_WORDS = OPTION_NAMES | {"countdown"}


def misplaced_option(name: str) -> str:
    """The message for a job option given as a model input."""
    if name == "countdown":
        return "countdown: is not a model input; delay a job with options=JobOptions(not_before=...)"
    return f"{name}: is a job option, not a model input; pass options=JobOptions({name}=...)"


def request_digest(model_id: str, inputs: Mapping[str, Any], options: JobOptions) -> str:
    """A fingerprint of a request as given (model, inputs, options but the key itself).

    Taken before anything is filled in (a seed chosen, defaults applied), so the same call
    made again gives the same digest.
    """
    import hashlib
    import json

    described = {
        "model_id": model_id,
        "inputs": inputs,
        "tags": list(options.tags),
        "metadata": options.metadata,
        "priority": options.priority,
        "not_before": options.not_before.isoformat() if options.not_before is not None else None,
        "deadline_s": options.deadline_s,
        "callback_url": options.callback_url,
    }
    text = json.dumps(described, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def differences(stored: Mapping[str, Any], model_id: str, options: JobOptions) -> list[str]:
    """Which parts of a keyed request differ from the job its key names (`stored`: that job's
    model_id, tags, metadata, priority, not_before, callback_url); the inputs when nothing else does."""
    found = []
    if stored["model_id"] != model_id:
        found.append("model_id")
    for name in ("tags", "metadata", "priority", "not_before", "callback_url"):
        mine = list(options.tags) if name == "tags" else getattr(options, name)
        if stored[name] != mine:
            found.append(name)
    return found or ["inputs"]
