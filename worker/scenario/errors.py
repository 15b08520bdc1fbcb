"""What can go wrong talking to Scenario, as one small hierarchy.

Every class says whether a retry can help; callers branch on the class, never
on the message. `error_from_response` is the one place an HTTP answer becomes
an exception.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from worker.errors import WorkerError


class ScenarioError(WorkerError):
    """Root of every error the Scenario client raises."""

    # True when the cause is the account itself (credentials, credit), so every job of the
    # fleet would meet it: callers pause the fleet on this, not on one status code.
    account_wide: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after_s: float | None = None,
        details: Any = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s
        self.details = details
        self.hint = hint

    def __str__(self) -> str:
        head = f"HTTP {self.status}" if self.status is not None else type(self).__name__
        if self.code:
            head += f" {self.code}"
        return f"{head}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, retry_after_s={self.retry_after_s!r})"
        )

    def _fields(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this error; subclasses with more fields extend it."""
        return {
            "status": self.status,
            "code": self.code,
            "retry_after_s": self.retry_after_s,
            "details": self.details,
            "hint": self.hint,
        }

    def __reduce__(self):  # keep the fields when Celery pickles or copies the error
        return (_rebuild, (type(self), self.message, self._fields()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
            "retry_after_s": self.retry_after_s,
            "retryable": self.retryable,
        }


def _rebuild(cls, message, *fields):
    if len(fields) == 1 and isinstance(fields[0], dict):
        return cls(message, **fields[0])
    # Pickled by the previous release (status, code, retry_after_s): still readable during a rolling upgrade.
    status, code, retry_after_s = fields
    return cls(message, status=status, code=code, retry_after_s=retry_after_s)


class TransientError(ScenarioError):
    """A retry can help: rate limits, server errors, timeouts, dropped connections."""

    retryable = True


class RateLimited(TransientError):
    """HTTP 429; `retry_after_s` is the earliest moment a retry may come."""


class ParallelLimitReached(RateLimited):
    """HTTP 429 because the team already runs as many jobs as its plan allows; `limit` is that number."""

    def __init__(self, message: str, *, limit: int | None = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.limit = limit

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "limit": self.limit}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "limit": self.limit}


class ServerError(TransientError):
    """HTTP 5xx."""


class Conflict(TransientError):
    """HTTP 408 or 409, which Scenario's own SDK retries."""


class NetworkError(TransientError):
    """No answer: connection refused or dropped, or a read timeout."""


class PermanentError(ScenarioError):
    """A retry cannot help until a person changes something."""


class BadRequest(PermanentError):
    """HTTP 400: a parameter is missing or wrong."""


class Unauthorized(PermanentError):
    """HTTP 401: the API key or secret is missing or wrong; every job of the fleet meets it."""

    account_wide = True


class PaymentRequired(PermanentError):
    """HTTP 402: not enough creative units; every job of the team meets it until topped up."""

    account_wide = True


class Forbidden(PermanentError):
    """HTTP 403: the key may not do this (this model, this plan); other requests may still pass."""


class NotFound(PermanentError):
    """HTTP 404: no such model, job or asset."""


class UnexpectedResponse(PermanentError):
    """An answer this client cannot read (an unknown 4xx, or a body that is not the contract's)."""


_BY_STATUS: dict[int, type[ScenarioError]] = {
    400: BadRequest,
    401: Unauthorized,
    402: PaymentRequired,
    403: Forbidden,
    404: NotFound,
    408: Conflict,
    409: Conflict,
    429: RateLimited,
}


def error_class_for(status: int) -> type[ScenarioError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 500 <= status <= 599:
        return ServerError
    return UnexpectedResponse


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
) -> ScenarioError:
    """Turn an error answer (status, parsed JSON body, plain text or None, headers) into an exception.

    Every body shape Scenario is known to send is read: `{"status": "error", "code", "message"}`,
    `{"reason"}`, each with optional `details`, `hint` and `remainingSeconds`, or plain text.
    An `x-should-retry` header overrides the status code's verdict, as in Scenario's own SDK.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    fields = body if isinstance(body, Mapping) else {}
    cls = error_class_for(status)
    if cls is RateLimited and is_parallel_limit(fields):
        cls = ParallelLimitReached
    should_retry = lower.get("x-should-retry", "").strip().lower()
    if should_retry == "true" and not cls.retryable:
        cls = ServerError if status >= 500 else Conflict
    elif should_retry == "false" and cls.retryable:
        cls = UnexpectedResponse
    waits = (parse_retry_after(lower, now=now), _seconds(fields.get("remainingSeconds")))
    known = [w for w in waits if w is not None]
    options: dict[str, Any] = {
        "status": status,
        "code": _text(fields.get("code")),
        "retry_after_s": max(known) if known else None,
        "details": fields.get("details"),
        "hint": _text(fields.get("hint")),
    }
    if cls is ParallelLimitReached:
        options["limit"] = _parallel_limit(fields)
    return cls(message_of(status, body), **options)


# The plan limits a 429 names when a team runs as many jobs as it may.
PARALLEL_LIMIT_NAMES = frozenset({"parallelInferences", "parallelCustomJobs"})
# Plain-text bodies (a proxy's page, say) are cut to this many characters in a message.
_TEXT_MAX_CHARS = 200
# Fields an error body carries beside its text; a body of only these has no message.
_FREE_TEXT = frozenset({"message", "reason", "hint"})
_STRUCTURED = frozenset({"status", "code", "details", "hint", "remainingSeconds"})


def is_parallel_limit(body: Mapping[str, Any]) -> bool:
    """Whether a 429 body says the team's parallel limit is reached, from its structured fields only."""
    details = body.get("details")
    if isinstance(details, Mapping):
        action = details.get("actionName")
        if isinstance(action, str):
            # A named action is the limit it names: a per-minute request limit is not the parallel one.
            return action in PARALLEL_LIMIT_NAMES
        if "actionLimit" in details:
            return True
    # Free text is left out: the decision rests on structured fields, never on wording.
    return _names_parallel_limit({k: v for k, v in body.items() if k not in _FREE_TEXT})


def _names_parallel_limit(value: Any) -> bool:
    """A limit name appears as a value (`"actionName": "parallelInferences"`) or a key, at any depth."""
    if isinstance(value, str):
        return value in PARALLEL_LIMIT_NAMES
    if isinstance(value, Mapping):
        return any(k in PARALLEL_LIMIT_NAMES or _names_parallel_limit(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_names_parallel_limit(v) for v in value)
    return False


def _parallel_limit(body: Mapping[str, Any]) -> int | None:
    details = body.get("details")
    raw = details.get("actionLimit") if isinstance(details, Mapping) else None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw < 0:
        return None
    return int(raw)


def message_of(status: int, body: Any) -> str:
    """The error's text: `message`, else `reason`, else the body itself; a stock sentence only when empty."""
    if isinstance(body, Mapping):
        for key in ("message", "reason"):
            text = _text(body.get(key))
            if text:
                return text
        rest = {k: v for k, v in body.items() if k not in _STRUCTURED and v not in (None, "", [], {})}
        if rest:
            return _shortened(json.dumps(body, default=str, separators=(", ", ": ")))
    elif isinstance(body, (str, bytes)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        # A proxy's HTML page: its words, not its markup.
        text = " ".join(re.sub(r"<[^>]*>", " ", text).split())
        if text:
            return _shortened(text)
    elif body not in (None, [], {}):
        return _shortened(json.dumps(body, default=str))
    return f"Scenario answered HTTP {status} with no error message"


def _shortened(text: str) -> str:
    return text if len(text) <= _TEXT_MAX_CHARS else text[: _TEXT_MAX_CHARS - 3] + "..."


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _seconds(value: Any) -> float | None:
    """A finite, non-negative number of seconds, or None; strings of digits are read too."""
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    # "inf" or "1e400" would become a countdown no scheduler can hold.
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait: the longer of `retry-after-ms` and `retry-after` (seconds or an HTTP date).

    Header names must already be lower-case. Unreadable, negative or infinite values are ignored.
    The longer wins because a retry before either moment would only be refused again.
    """
    waits = [_ms_header(headers.get("retry-after-ms")), _retry_after_header(headers.get("retry-after"), now=now)]
    known = [w for w in waits if w is not None]
    return max(known) if known else None


def _ms_header(raw: str | None) -> float | None:
    if raw is None:
        return None
    seconds = _seconds(raw.strip())
    return None if seconds is None else seconds / 1000.0


def _retry_after_header(raw: str | None, *, now: float | None) -> float | None:
    if raw is None:
        return None
    raw = raw.strip()
    try:
        float(raw)
    except ValueError:
        pass
    else:
        return _seconds(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
