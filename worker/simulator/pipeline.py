"""What every API request goes through: routing, auth, the rate limit, faults, the handler, stats."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import sys
import time
import traceback
from collections.abc import Callable

from worker.simulator.api import Api, Caller, Route, identity
from worker.simulator.config import SimulatorConfig
from worker.simulator.errorshape import ErrorShaper
from worker.simulator.faults import Fault, Faults
from worker.simulator.messages import ApiError, Request, Response
from worker.simulator.ratelimit import RateLimiter, retry_after_header
from worker.simulator.stats import Stats


def request_key(endpoint: str, req: Request) -> str:
    """What makes two requests "the same" for spotting retries after a 429."""
    if endpoint == "submit":
        body = req.json_or_none()
        body = body if isinstance(body, dict) else {}
        model = req.params.get("model_id") or body.get("modelId") or ""
        prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else ""
        return f"submit:{model}:{hashlib.sha256(prompt.encode()).hexdigest()[:16]}"
    if endpoint == "get_job":
        return f"get_job:{req.params.get('job_id', '')}"
    return f"{endpoint}:{req.path}"


def _fault_context(req: Request) -> dict[str, str | None]:
    body = req.json_or_none()
    body = body if isinstance(body, dict) else {}
    prompt = body.get("prompt")
    model = req.params.get("model_id") or body.get("modelId")
    return {
        "prompt": prompt if isinstance(prompt, str) else None,
        "job_id": req.params.get("job_id"),
        "model_id": model if isinstance(model, str) else None,
    }


def _retry_after_s(response: Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _fault_error(fault: Fault) -> ApiError:
    return ApiError(fault.status, fault.message, code=fault.code, headers=fault.headers, body=fault.body)


class Dispatcher:
    """Turns a parsed request into a Response, or None when the connection is to be dropped."""

    def __init__(
        self,
        config: SimulatorConfig,
        api: Api,
        faults: Faults,
        stats: Stats,
        sleep: Callable[[float], object],
    ) -> None:
        self.config = config
        self.api = api
        self.faults = faults
        self.stats = stats
        self.limiter = RateLimiter(config.rate_limit_per_s, config.rate_limit_burst)
        self._sleep = sleep
        self._caller = identity(config.api_key)
        self.shaper = ErrorShaper(config.error_shape)

    def handle(self, req: Request) -> Response | None:
        try:
            route, req.params = self.api.match(req.method, req.path)
        except ApiError as error:
            self.stats.record("unknown", error.status)
            return self.shaper.render(error)
        key = request_key(route.endpoint, req)
        now = time.time()
        self.stats.note_arrival(key, now)
        with self.stats.in_flight():
            response = self._run(route, req, now)
        self.stats.record(route.endpoint, "dropped" if response is None else response.status)
        if response is not None and response.status == 429:
            self.stats.note_rate_limited(route.endpoint, key, now, _retry_after_s(response))
        return response

    def _run(self, route: Route, req: Request, now: float) -> Response | None:
        fault: Fault | None = None
        try:
            caller = self._authenticate(req) if route.needs_auth else self._caller
            if route.needs_auth:
                self._take_token(caller, now)
            fault = self.faults.decide(route.endpoint, **_fault_context(req))
            if fault is not None and fault.delay_s > 0:
                self._sleep(fault.delay_s)
                now = time.time()
            if fault is not None and fault.hold is not None:
                fault.hold.keep()
                now = time.time()
            if fault is not None and fault.action == "drop":
                return None
            if fault is not None and fault.action == "respond":
                return self.shaper.render(_fault_error(fault))
            response = route.handler(req, caller, now)
        except ApiError as error:
            response = self.shaper.render(error)
        except Exception:  # a bug here must still answer like a server, not hang the client
            if self.config.verbose:
                traceback.print_exc(file=sys.stderr)
            response = self.shaper.render(ApiError(500, "Internal server error"))
        if fault is not None and fault.action == "drop_after":
            return None
        if fault is not None and fault.action == "respond_after":
            return self.shaper.render(_fault_error(fault))
        return response

    def _authenticate(self, req: Request) -> Caller:
        header = req.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise ApiError(
                401,
                "Missing credentials: use HTTP Basic with your API key and secret",
                headers={"WWW-Authenticate": 'Basic realm="Scenario API"'},
            )
        try:
            key, _, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key = secret = ""
        good_key = hmac.compare_digest(key.encode(), self.config.api_key.encode())
        good_secret = hmac.compare_digest(secret.encode(), self.config.api_secret.encode())
        if not (good_key and good_secret):
            raise ApiError(401, "Invalid API key or secret", headers={"WWW-Authenticate": 'Basic realm="Scenario API"'})
        return self._caller

    def _take_token(self, caller: Caller, now: float) -> None:
        wait_s = self.limiter.wait_s(caller.api_key, now)
        if wait_s > 0:
            raise ApiError(
                429,
                f"Rate limit exceeded: at most {self.config.rate_limit_per_s:g} requests per second",
                headers={"Retry-After": retry_after_header(wait_s)},
            )
