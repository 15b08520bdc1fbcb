"""The body an error is answered with: Scenario's documented shape, the live service's, or a rotation of all.

The live service has been seen answering `{"reason": ...}` where the documentation
promises `{"status": "error", "code", "message"}`; clients must read every shape,
so the simulator can answer any of them.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from worker.simulator.config import ERROR_SHAPES as SHAPES
from worker.simulator.messages import ApiError, Response, json_response

# What `mixed` rotates through, one step per error answered.
MIXED_STEPS = ("code_message", "reason", "reason_details", "message_hint")


def error_body(error: ApiError, step: str) -> dict[str, Any]:
    """The body of `error` in one shape step; the error's extra keys (details, remainingSeconds) always stay."""
    if step == "code_message":
        body: dict[str, Any] = {"status": "error", "code": error.code, "message": error.message}
    elif step == "reason":
        body = {"reason": error.message}
    elif step == "reason_details":
        body = {"reason": error.message, "details": {"code": error.code, "status": error.status}}
    elif step == "message_hint":
        body = {"message": error.message, "hint": f"HTTP {error.status}: see the API documentation for {error.code}"}
    else:
        raise ValueError(f"unknown error shape step {step!r}")
    return {**body, **error.extra}


class ErrorShaper:
    """Renders ApiErrors in the configured shape; `mixed` moves one step per error, from any thread."""

    def __init__(self, shape: str) -> None:
        if shape not in SHAPES:
            raise ValueError(f"error_shape must be one of {', '.join(SHAPES)}, got {shape!r}")
        self.shape = shape
        self._steps = itertools.cycle(MIXED_STEPS)
        self._lock = threading.Lock()

    def _step(self) -> str:
        if self.shape == "scenario":
            return "code_message"
        if self.shape == "reason":
            return "reason"
        with self._lock:
            return next(self._steps)

    def render(self, error: ApiError) -> Response:
        if error.body is not None:
            return json_response(error.status, error.body, error.headers)
        return json_response(error.status, error_body(error, self._step()), error.headers)
