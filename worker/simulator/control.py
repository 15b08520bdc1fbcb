"""The simulator's own endpoints under /_sim: stats, live fault settings, planted jobs; without auth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.simulator.faults import Faults
from worker.simulator.messages import ApiError, Request, Response, json_response
from worker.simulator.webhooks import Webhooks

_RULE_KINDS = ("rule", "fail_jobs", "job_duration", "webhook")
_JOB_FIELDS = ("modelId", "inputs", "apiKey", "durationS")
_WEBHOOK_FIELDS = ("url", "secret", "events")
_HOLDS = "/_sim/faults/holds/"


class Control:
    """Answers GET / and everything under /_sim."""

    def __init__(
        self,
        faults: Faults,
        stats: Callable[[], dict[str, Any]],
        reset_stats: Callable[[], None],
        create_job: Callable[..., dict[str, Any]],
        webhooks: Webhooks,
    ):
        self.faults = faults
        self.webhooks = webhooks
        self._stats = stats
        self._reset_stats = reset_stats
        self._create_job = create_job

    def handle(self, req: Request) -> Response:
        try:
            return self._route(req)
        except ApiError as error:
            return error.response()
        except (TypeError, ValueError) as error:
            # Bad settings from the caller: the Faults methods say what is wrong.
            return ApiError(400, str(error)).response()

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        method = req.method
        if (method, path) == ("GET", "/"):
            return json_response(
                200,
                {"name": "Scenario API simulator", "api": f"{req.base_url}/v1", "stats": f"{req.base_url}/_sim/stats"},
            )
        if (method, path) == ("GET", "/_sim/health"):
            return json_response(200, {"status": "ok"})
        if (method, path) == ("GET", "/_sim/stats"):
            return json_response(200, self._stats())
        if (method, path) == ("POST", "/_sim/stats/reset"):
            self._reset_stats()
            return json_response(200, self._stats())
        if (method, path) == ("GET", "/_sim/faults"):
            return json_response(200, self.faults.snapshot())
        if (method, path) == ("POST", "/_sim/faults"):
            self.faults.set_rates(**_object(req))
            return json_response(200, self.faults.snapshot())
        if (method, path) == ("DELETE", "/_sim/faults"):
            self.faults.clear()
            return json_response(200, self.faults.snapshot())
        if (method, path) == ("POST", "/_sim/faults/rules"):
            return json_response(200, {"id": self._add_rule(_object(req)), **self.faults.snapshot()})
        if method == "POST" and path.startswith(_HOLDS) and path.endswith("/release"):
            rule_id = path[len(_HOLDS) : -len("/release")]
            if not rule_id.isdigit():
                raise ApiError(400, f"rule id must be a whole number, not {rule_id!r}")
            return json_response(200, {"id": int(rule_id), "held": self.faults.release(int(rule_id))})
        if (method, path) == ("POST", "/_sim/jobs"):
            return json_response(200, {"job": self._plant(_object(req))})
        if path == "/_sim/webhooks" and method in ("GET", "POST", "DELETE"):
            return self._webhooks(method, req)
        raise ApiError(404, f"No such endpoint: {method} {path}")

    def _plant(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in body:
            if name not in _JOB_FIELDS:
                raise ApiError(400, f'"{name}" is not allowed; send {", ".join(_JOB_FIELDS)}')
        model_id, inputs = body.get("modelId"), body.get("inputs", {})
        api_key, duration_s = body.get("apiKey"), body.get("durationS")
        if not isinstance(model_id, str) or not model_id:
            raise ApiError(400, '"modelId" is required: a model id string')
        if not isinstance(inputs, dict):
            raise ApiError(400, '"inputs" must be an object of the model\'s inputs')
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise ApiError(400, '"apiKey" must be a non-empty string')
        if duration_s is not None and (
            isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)) or not 0 <= duration_s < 1e9
        ):
            raise ApiError(400, '"durationS" must be a number of seconds, 0 or more')
        return self._create_job(model_id, inputs, api_key=api_key, duration_s=duration_s)

    def _webhooks(self, method: str, req: Request) -> Response:
        """POST registers an endpoint (its secret is in this answer only), GET lists them, DELETE forgets them."""
        if method == "POST":
            body = _object(req)
            for name in body:
                if name not in _WEBHOOK_FIELDS:
                    raise ApiError(400, f'"{name}" is not allowed; send {", ".join(_WEBHOOK_FIELDS)}')
            endpoint = self.webhooks.register(body.get("url"), body.get("secret"), body.get("events"))
            return json_response(200, {"endpoint": endpoint.to_json(with_secret=True)})
        if method == "DELETE":
            self.webhooks.clear()
        return json_response(200, {"endpoints": [e.to_json() for e in self.webhooks.endpoints()]})

    def _add_rule(self, body: dict[str, Any]) -> int:
        kind = body.pop("kind", "rule")
        if kind not in _RULE_KINDS:
            raise ApiError(400, f'"kind" must be one of {", ".join(_RULE_KINDS)}')
        add = {
            "rule": self.faults.add_rule,
            "fail_jobs": self.faults.fail_jobs,
            "job_duration": self.faults.job_duration,
            "webhook": self.faults.webhook,
        }[kind]
        try:
            return add(**body)
        except TypeError as error:
            raise ApiError(400, f"bad field for a {kind} rule: {error}") from None


def _object(req: Request) -> dict[str, Any]:
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return dict(body)
