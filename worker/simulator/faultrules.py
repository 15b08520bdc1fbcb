"""What a fault is, and the pure decisions behind it: targeted rules, random draws, checked settings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from worker.simulator.holds import Hold

RATE_NAMES = ("rate_429", "rate_500", "rate_502", "rate_503", "rate_slow", "rate_drop", "rate_job_failure")
ERROR_RATES = (("rate_429", 429), ("rate_500", 500), ("rate_502", 502), ("rate_503", 503))
MESSAGES = {
    429: "Too many requests (injected fault)",
    500: "Internal server error (injected fault)",
    502: "Bad gateway (injected fault)",
    503: "Service unavailable (injected fault)",
}


@dataclass(frozen=True)
class Fault:
    """What happens to one request; `action` "none" means only the delay."""

    action: str
    delay_s: float = 0.0
    status: int = 0
    code: str | None = None
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    source: str = "random"
    # An exact JSON body to answer instead of the error shape's.
    body: Any = None
    # A "hold" rule's latch: the request waits on it before it is answered normally.
    hold: Hold | None = None


@dataclass
class Rule:
    """A targeted fault; `times` None means it never wears out."""

    id: int
    kind: str  # "rule", "fail_jobs", "job_duration" or "webhook"
    endpoint: str = "*"
    prompt_contains: str | None = None
    job_id: str | None = None
    model_id: str | None = None
    action: str = "respond"
    status: int = 500
    code: str | None = None
    message: str | None = None
    retry_after: str | None = None
    delay_s: float | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    error: str | None = None
    seconds: float | None = None
    times: int | None = None

    def matches(self, endpoint: str | None, prompt: str | None, job_id: str | None, model_id: str | None) -> bool:
        if endpoint is not None and self.endpoint not in ("*", endpoint):
            return False
        if self.prompt_contains is not None and (prompt is None or self.prompt_contains.lower() not in prompt.lower()):
            return False
        if self.job_id is not None and self.job_id != job_id:
            return False
        return self.model_id is None or self.model_id == model_id

    def to_json(self) -> dict[str, Any]:
        """The fields that mean something for this kind of rule; `times` null means for ever."""
        shown = SHOWN_FIELDS[self.kind]
        values = {name: getattr(self, name) for name in shown if getattr(self, name) is not None}
        return {"id": self.id, "kind": self.kind, **values, "times": self.times}


MATCH_FIELDS = ("prompt_contains", "job_id", "model_id")
SHOWN_FIELDS = {
    "rule": (
        "endpoint",
        *MATCH_FIELDS,
        "action",
        "status",
        "code",
        "message",
        "retry_after",
        "delay_s",
        "body",
        "headers",
    ),
    "fail_jobs": ("prompt_contains", "model_id", "error"),
    "job_duration": ("prompt_contains", "model_id", "seconds"),
    "webhook": ("job_id", "model_id", "action"),
}


def checked_number(name: str, value: Any) -> float:
    """A rate (0..1) or another non-negative number such as a delay, as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    if name in RATE_NAMES and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within 0..1")
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return float(value)


def header_value(value: Any) -> str:
    # JSON true/false become the lower-case words headers such as x-should-retry carry.
    return str(value).lower() if isinstance(value, bool) else str(value)


def check_times(times: Any) -> int | None:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError("times must be a whole number of at least 1, or None for ever")
    return times


def rule_fault(rule: Rule, slow_s: float, hold: Hold | None = None) -> Fault:
    if rule.action == "hold":
        return Fault("none", source="rule", hold=hold)
    if rule.action == "slow":
        return Fault("none", delay_s=slow_s if rule.delay_s is None else rule.delay_s, source="rule")
    headers = {"Retry-After": rule.retry_after} if rule.retry_after is not None else {}
    headers.update(rule.headers or {})
    message = rule.message or MESSAGES.get(rule.status, f"HTTP {rule.status} (injected fault)")
    return Fault(rule.action, 0.0, rule.status, rule.code, message, headers, "rule", rule.body)


def random_fault(draws: list[float], rates: dict[str, float]) -> Fault | None:
    drop_draw, slow_draw, *error_draws = draws
    delay = rates["slow_s"] if slow_draw < rates["rate_slow"] else 0.0
    if drop_draw < rates["rate_drop"]:
        return Fault("drop", delay)
    for (name, status), draw in zip(ERROR_RATES, error_draws, strict=False):
        if draw < rates[name]:
            headers = {"Retry-After": str(math.ceil(rates["retry_after_s"]))} if status == 429 else {}
            return Fault("respond", delay, status, None, MESSAGES[status], headers)
    return Fault("none", delay) if delay else None
