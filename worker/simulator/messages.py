"""What travels between the HTTP layer and the API handlers: requests, answers, errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# The error code Scenario puts in the body for each HTTP status this simulator answers.
CODES = {
    400: "INVALID_PARAMETER",
    401: "AUTHENTICATION_FAILED",
    402: "INSUFFICIENT_CREDITS",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}

_NO_BODY = object()


@dataclass
class Request:
    """One parsed HTTP request, with the route's path parameters."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    base_url: str = ""  # scheme://host:port the client used, for links back to us
    _json: Any = field(default=_NO_BODY, repr=False)

    def json(self) -> Any:
        """The body as JSON; raises ApiError 400 when it is not JSON."""
        if self._json is _NO_BODY:
            try:
                self._json = json.loads(self.body.decode("utf-8")) if self.body else None
            except (UnicodeDecodeError, ValueError):
                raise ApiError(400, "request body is not valid JSON") from None
        return self._json

    def json_or_none(self) -> Any:
        """The body as JSON, or None when it is not JSON (for fault matching)."""
        try:
            return self.json()
        except ApiError:
            return None


@dataclass
class Response:
    """An answer ready to be written to the socket."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return Response(status, body, "application/json", dict(headers or {}))


class ApiError(Exception):
    """An error answer; response() gives Scenario's shape {"status": "error", "code", "message"}.

    `extra` keys (details, remainingSeconds, ...) go into every shape; `body` replaces the
    whole body verbatim (a fault rule's exact answer).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or CODES.get(status, "ERROR")
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        self.body = body

    def response(self) -> Response:
        if self.body is not None:
            return json_response(self.status, self.body, self.headers)
        payload = {"status": "error", "code": self.code, "message": self.message, **self.extra}
        return json_response(self.status, payload, self.headers)
