"""What can go wrong talking to Scenario, as one small hierarchy.

Every class says whether a retry can help; callers branch on the class, never
on the message. `error_from_response` is the one place an HTTP answer becomes
an exception.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Any

from worker.errors import WorkerError


class ScenarioError(WorkerError):
    """Root of every error the Scenario client raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s

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

    def __reduce__(self):  # keep the fields when Celery pickles or copies the error
        return (_rebuild, (type(self), self.message, self.status, self.code, self.retry_after_s))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "retry_after_s": self.retry_after_s,
            "retryable": self.retryable,
        }


def _rebuild(cls, message, status, code, retry_after_s):
    return cls(message, status=status, code=code, retry_after_s=retry_after_s)


class TransientError(ScenarioError):
    """A retry can help: rate limits, server errors, timeouts, dropped connections."""

    retryable = True


class RateLimited(TransientError):
    """HTTP 429; `retry_after_s` is the earliest moment a retry may come."""


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
    """HTTP 401: the API key or secret is missing or wrong."""


class PaymentRequired(PermanentError):
    """HTTP 402: not enough creative units."""


class Forbidden(PermanentError):
    """HTTP 403: the key may not do this."""


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
    """Turn an error answer (status, parsed JSON body or None, headers) into an exception.

    An `x-should-retry` header overrides the status code's verdict, as in
    Scenario's own SDK; `retry-after-ms` is read before `retry-after`.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    code = message = None
    if isinstance(body, Mapping):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        message = body.get("message") if isinstance(body.get("message"), str) else None
    if not message:
        message = f"Scenario answered HTTP {status} with no error message"
    cls = error_class_for(status)
    should_retry = lower.get("x-should-retry", "").strip().lower()
    if should_retry == "true" and not cls.retryable:
        cls = ServerError if status >= 500 else Conflict
    elif should_retry == "false" and cls.retryable:
        cls = UnexpectedResponse
    return cls(message, status=status, code=code, retry_after_s=parse_retry_after(lower, now=now))


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date).

    Header names must already be lower-case. Unreadable, negative or infinite values are ignored.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        # "inf" or "1e400" would become a countdown no scheduler can hold.
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
