"""Fault injection: seeded random faults per request, and targeted rules without randomness.

Every request draws the same number of random values, whatever the rates and
rules, so one seed and one sequence of requests always give the same faults.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from worker.simulator.faultrules import (
    ERROR_RATES,
    MATCH_FIELDS,
    RATE_NAMES,
    Fault,
    Rule,
    check_times,
    checked_number,
    header_value,
    random_fault,
    rule_fault,
)
from worker.simulator.holds import HOLD_LIMIT_S, Hold

ENDPOINTS = frozenset(
    {
        "submit",
        "get_job",
        "list_jobs",
        "cancel",
        "upload_asset",
        "get_asset",
        "get_assets_bulk",
        "get_model",
        "get_team_limits",
        "download",
        "*",
    }
)
# respond: answer the error instead of the real answer; respond_after: do the work
# (a job is created), then answer the error; drop / drop_after: the same, but close
# the connection without a word; slow: wait delay_s, then answer normally; hold: wait
# until release(rule id) (delay_s at most, HOLD_LIMIT_S by default), then answer normally.
ACTIONS = frozenset({"respond", "respond_after", "drop", "drop_after", "slow", "hold"})
# What a webhook rule does to a job's end event: drop it unsent, or send it with a wrong signature.
WEBHOOK_ACTIONS = frozenset({"drop", "forge"})
_DRAWS_PER_REQUEST = 2 + len(ERROR_RATES)
DEFAULT_JOB_ERROR = "Inference failed (simulated)"


class Faults:
    """The live fault settings of one simulator; safe to change from any thread."""

    def __init__(self, seed: int, rates: dict[str, float]) -> None:
        self.seed = seed
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._rates: dict[str, float] = {name: 0.0 for name in RATE_NAMES} | {"slow_s": 2.0, "retry_after_s": 1.0}
        self._rules: list[Rule] = []
        # Kept after their rule wears out, so a test can still count and release what they caught.
        self._holds: dict[int, Hold] = {}
        self._next_id = 1
        self.set_rates(**rates)

    # --- settings -------------------------------------------------------------------------

    def set_rates(self, **rates: float) -> None:
        """Change any of rate_429 .. rate_job_failure (0..1), slow_s or retry_after_s."""
        checked = {}
        for name, value in rates.items():
            if name not in self._rates:
                raise ValueError(f"unknown fault rate {name!r}; known: {', '.join(sorted(self._rates))}")
            checked[name] = checked_number(name, value)
        with self._lock:
            self._rates.update(checked)

    def rates(self) -> dict[str, float]:
        with self._lock:
            return dict(self._rates)

    def add_rule(
        self,
        *,
        endpoint: str = "*",
        status: int = 500,
        action: str = "respond",
        times: int | None = None,
        prompt_contains: str | None = None,
        job_id: str | None = None,
        model_id: str | None = None,
        retry_after: str | int | float | None = None,
        delay_s: float | None = None,
        code: str | None = None,
        message: str | None = None,
        body: Any = None,
        headers: dict[str, Any] | None = None,
    ) -> int:
        """Answer matching requests with `status` (or drop / slow them) `times` times; returns the rule id.

        `body` is answered verbatim (any JSON) instead of the configured error shape; `headers`
        (e.g. x-should-retry, retry-after-ms) are added to the answer. A "hold" keeps each request
        it catches until `release(id)`, or `delay_s` at most; `held(id)` counts them.
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; known: {', '.join(sorted(ENDPOINTS))}")
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status, 400..599")
        if delay_s is not None:
            delay_s = checked_number("delay_s", delay_s)
        if headers is not None:
            if not isinstance(headers, dict) or not all(isinstance(k, str) and k for k in headers):
                raise ValueError("headers must map header names to values")
            headers = {name: header_value(value) for name, value in headers.items()}
        hold = Hold(HOLD_LIMIT_S if delay_s is None else delay_s) if action == "hold" else None
        return self._add(
            Rule(
                id=0,
                kind="rule",
                endpoint=endpoint,
                prompt_contains=prompt_contains,
                job_id=job_id,
                model_id=model_id,
                action=action,
                status=status,
                code=code,
                message=message,
                retry_after=None if retry_after is None else str(retry_after),
                delay_s=delay_s,
                body=body,
                headers=headers,
                times=check_times(times),
            ),
            hold,
        )

    def held(self, rule_id: int) -> int:
        """How many requests the hold rule `rule_id` has caught so far, released or not."""
        return self._hold(rule_id).held

    def release(self, rule_id: int) -> int:
        """Let the requests held by rule `rule_id` go on (later ones pass at once); returns how many it caught."""
        hold = self._hold(rule_id)
        hold.release()
        return hold.held

    def _hold(self, rule_id: Any) -> Hold:
        with self._lock:
            hold = self._holds.get(rule_id) if isinstance(rule_id, int) else None
        if hold is None:
            raise ValueError(f"rule_id {rule_id!r} names no hold rule")
        return hold

    def fail_jobs(
        self,
        *,
        prompt_contains: str | None = None,
        model_id: str | None = None,
        error: str = DEFAULT_JOB_ERROR,
        times: int | None = None,
    ) -> int:
        """Jobs created from matching submissions end in `failure` with `error` as metadata.error."""
        if not isinstance(error, str) or not error:
            raise ValueError("error must be a non-empty string")
        rule = Rule(id=0, kind="fail_jobs", prompt_contains=prompt_contains, model_id=model_id, error=error)
        rule.times = check_times(times)
        return self._add(rule)

    def job_duration(
        self,
        *,
        seconds: float,
        prompt_contains: str | None = None,
        model_id: str | None = None,
        times: int | None = None,
    ) -> int:
        """Jobs created from matching submissions run for `seconds` instead of the configured duration."""
        seconds = checked_number("seconds", seconds)
        rule = Rule(id=0, kind="job_duration", prompt_contains=prompt_contains, model_id=model_id, seconds=seconds)
        rule.times = check_times(times)
        return self._add(rule)

    def webhook(
        self, *, action: str, job_id: str | None = None, model_id: str | None = None, times: int | None = None
    ) -> int:
        """The end events of matching jobs are dropped unsent or sent forged (a wrong signature)."""
        if action not in WEBHOOK_ACTIONS:
            raise ValueError(f"unknown webhook action {action!r}; known: {', '.join(sorted(WEBHOOK_ACTIONS))}")
        rule = Rule(id=0, kind="webhook", job_id=job_id, model_id=model_id, action=action)
        rule.times = check_times(times)
        return self._add(rule)

    def webhook_action(self, *, job_id: str, model_id: str) -> str | None:
        """What happens to one delivery of a job's end event: "drop", "forge", or None to send it.

        Rules only, no random draw: the requests' seeded sequence stays the same with webhooks on.
        """
        with self._lock:
            rule = self._take("webhook", None, None, job_id, model_id)
        return None if rule is None else rule.action

    def clear(self) -> None:
        """Forget every rule, release every hold and set every random rate back to 0 (slow_s and retry_after_s stay)."""
        with self._lock:
            holds = list(self._holds.values())
            self._holds.clear()
            self._rules.clear()
            for name in RATE_NAMES:
                self._rates[name] = 0.0
        for hold in holds:
            hold.release()

    def release_all(self) -> None:
        """Let every held request go on, e.g. when the simulator stops."""
        with self._lock:
            holds = list(self._holds.values())
        for hold in holds:
            hold.release()

    def snapshot(self) -> dict[str, Any]:
        """Seed, rates, rules and holds, as GET /_sim/faults shows them."""
        with self._lock:
            rules = [rule.to_json() for rule in self._rules]
            holds = {str(rule_id): {"held": h.held, "released": h.released} for rule_id, h in self._holds.items()}
            return {"seed": self.seed, "rates": dict(self._rates), "rules": rules, "holds": holds}

    def _add(self, rule: Rule, hold: Hold | None = None) -> int:
        for name in MATCH_FIELDS:
            if getattr(rule, name) is not None and not isinstance(getattr(rule, name), str):
                raise ValueError(f"{name} must be a string")
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
            if hold is not None:
                self._holds[rule.id] = hold
            return rule.id

    def _take(
        self, kind: str, endpoint: str | None, prompt: str | None, job_id: str | None, model_id: str | None
    ) -> Rule | None:
        # Called with the lock held: the first matching rule wins and wears by one use.
        for rule in self._rules:
            if rule.kind == kind and rule.matches(endpoint, prompt, job_id, model_id):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                return rule
        return None

    # --- decisions ------------------------------------------------------------------------

    def decide(
        self, endpoint: str, *, prompt: str | None = None, job_id: str | None = None, model_id: str | None = None
    ) -> Fault | None:
        """The fault for one request, or None to answer it normally."""
        with self._lock:
            draws = [self._random.random() for _ in range(_DRAWS_PER_REQUEST)]
            rule = self._take("rule", endpoint, prompt, job_id, model_id)
            rates = dict(self._rates)
            hold = self._holds.get(rule.id) if rule is not None else None
        if rule is not None:
            return rule_fault(rule, rates["slow_s"], hold)
        return random_fault(draws, rates)

    def job_plan(self, prompt: str, model_id: str, duration_s: float, jitter: float) -> tuple[float, str | None]:
        """How long a new job runs and, when it is to fail, its error text."""
        with self._lock:
            jitter_draw, failure_draw = self._random.random(), self._random.random()
            duration = max(0.0, duration_s * (1.0 + jitter * (2.0 * jitter_draw - 1.0)))
            error = DEFAULT_JOB_ERROR if failure_draw < self._rates["rate_job_failure"] else None
            override = self._take("job_duration", None, prompt, None, model_id)
            failing = self._take("fail_jobs", None, prompt, None, model_id)
        if override is not None and override.seconds is not None:
            duration = override.seconds
        if failing is not None:
            error = failing.error
        return duration, error
