"""The Scenario endpoints themselves: routes, and one handler per endpoint."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from worker.simulator.config import SimulatorConfig
from worker.simulator.faults import Faults
from worker.simulator.listing import decode_token, page, parse_page_size, parse_status, parse_updated_after
from worker.simulator.messages import ApiError, Request, Response, json_response
from worker.simulator.models import CATALOGUE, Model, cost_cu
from worker.simulator.signing import link_problem
from worker.simulator.stats import Stats
from worker.simulator.timefmt import to_ms
from worker.simulator.validation import parse_flag, validate_inputs, with_defaults
from worker.simulator.views import asset_json, asset_png, job_json
from worker.simulator.world import JobRecord, World

MAX_BULK_ASSETS = 200
DRY_RUN_STATUS = 269


@dataclass(frozen=True)
class Caller:
    """Who is asking: the API key and the ids it stands for."""

    api_key: str
    owner_id: str
    author_id: str


Handler = Callable[[Request, Caller, float], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    endpoint: str
    handler: Handler
    needs_auth: bool = True


class Api:
    """Scenario's endpoints over one World."""

    def __init__(self, config: SimulatorConfig, world: World, faults: Faults, stats: Stats, signing_key: bytes):
        self.config = config
        self.world = world
        self.faults = faults
        self.stats = stats
        self.signing_key = signing_key
        self.routes = [
            Route("POST", re.compile(r"/v1/generate/txt2img"), "submit", self.submit),
            Route("POST", re.compile(r"/v1/generate/custom/(?P<model_id>[^/]+)"), "submit", self.submit),
            Route("GET", re.compile(r"/v1/jobs"), "list_jobs", self.list_jobs),
            Route("GET", re.compile(r"/v1/jobs/(?P<job_id>[^/]+)"), "get_job", self.get_job),
            Route("POST", re.compile(r"/v1/jobs/(?P<job_id>[^/]+)/action"), "cancel", self.job_action),
            Route("POST", re.compile(r"/v1/assets/get-bulk"), "get_assets_bulk", self.get_assets_bulk),
            Route("GET", re.compile(r"/v1/assets/(?P<asset_id>[^/]+)"), "get_asset", self.get_asset),
            Route("GET", re.compile(r"/v1/models/(?P<model_id>[^/]+)"), "get_model", self.get_model),
            Route("GET", re.compile(r"/_files/(?P<asset_id>[^/]+)\.png"), "download", self.download, False),
        ]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for a request; ApiError 404 for an unknown path, 405 for a wrong method."""
        path = path.rstrip("/") or "/"
        allowed = []
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found:
                if route.method == method:
                    return route, {k: unquote(v) for k, v in found.groupdict().items()}
                allowed.append(route.method)
        if allowed:
            raise ApiError(405, f"{method} is not allowed on {path}", headers={"Allow": ", ".join(allowed)})
        raise ApiError(404, f"No such endpoint: {method} {path}")

    # --- handlers -------------------------------------------------------------------------

    def submit(self, req: Request, caller: Caller, now: float) -> Response:
        dry_run = parse_flag("dryRun", req.query.get("dryRun"))
        path_model = req.params.get("model_id")
        inputs = validate_inputs(req.json(), model_in_body=path_model is None)
        model = self._model(inputs.pop("modelId", None) or path_model or "", caller)
        full = with_defaults(inputs, model)
        cost = cost_cu(model, full["numSamples"], full["width"], full["height"], full["numInferenceSteps"])
        if dry_run:
            return json_response(DRY_RUN_STATUS, {"creativeUnitsCost": cost})
        cfg = self.config
        duration_s, error = self.faults.job_plan(full["prompt"], model.id, cfg.job_duration_s, cfg.job_duration_jitter)
        record = self.world.create_job(
            owner_id=caller.owner_id,
            author_id=caller.author_id,
            model=model,
            inputs=full,
            duration_s=duration_s,
            error=error,
            cu_cost=cost,
            now=now,
        )
        fingerprint = json.dumps([caller.api_key, model.id, full], sort_keys=True).encode()
        self.stats.note_job_created(hashlib.sha256(fingerprint).digest()[:16], full["prompt"])
        return json_response(200, {"job": job_json(record, now)})

    def get_job(self, req: Request, caller: Caller, now: float) -> Response:
        record = self.world.job(req.params["job_id"])
        if record is None or record.owner_id != caller.owner_id:
            raise ApiError(404, f"Job not found: {req.params['job_id']}")
        return json_response(200, {"job": job_json(record, now)})

    def list_jobs(self, req: Request, caller: Caller, now: float) -> Response:
        page_size = parse_page_size(req.query.get("pageSize"))
        status = parse_status(req.query.get("status"))
        updated_after_ms = parse_updated_after(req.query.get("updatedAfter"))
        token = req.query.get("paginationToken")
        after = decode_token(token) if token else None
        entries = []
        for record in self.world.jobs():
            if record.owner_id == caller.owner_id:
                state = record.state(now)
                entries.append(((to_ms(state.updated_at), record.job_id), state.status, record))
        records, next_token = page(
            entries, status=status, updated_after_ms=updated_after_ms, page_size=page_size, after=after
        )
        payload: dict[str, object] = {"jobs": [job_json(record, now) for record in records]}
        if next_token:
            payload["nextPaginationToken"] = next_token
        return json_response(200, payload)

    def job_action(self, req: Request, caller: Caller, now: float) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        for name in body:
            if name != "action":
                raise ApiError(400, f'"{name}" is not allowed')
        if body.get("action") != "cancel":
            raise ApiError(400, '"action" must be "cancel"')
        job_id = req.params["job_id"]
        record = self.world.job(job_id)
        if record is None or record.owner_id != caller.owner_id:
            raise ApiError(404, f"Job not found: {job_id}")
        # Cancelling a job that is already final answers it unchanged, so a retried cancel is harmless.
        record = self.world.cancel(job_id, now) or record
        return json_response(200, {"job": job_json(record, now)})

    def get_asset(self, req: Request, caller: Caller, now: float) -> Response:
        asset_id = req.params["asset_id"]
        record = self.world.asset_job(asset_id, now)
        if record is None or record.owner_id != caller.owner_id:
            raise ApiError(404, f"Asset not found: {asset_id}")
        return json_response(200, {"asset": self._asset(record, asset_id, req, now)})

    def get_assets_bulk(self, req: Request, caller: Caller, now: float) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        for name in body:
            if name != "assetIds":
                raise ApiError(400, f'"{name}" is not allowed')
        ids = body.get("assetIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ApiError(400, '"assetIds" must be a list of strings')
        if len(ids) > MAX_BULK_ASSETS:
            raise ApiError(400, f'"assetIds" may hold at most {MAX_BULK_ASSETS} ids, got {len(ids)}')
        # Ids that name no asset (yet) are left out of the answer, as the real service does.
        assets = []
        for asset_id in dict.fromkeys(ids):
            record = self.world.asset_job(asset_id, now)
            if record is not None and record.owner_id == caller.owner_id:
                assets.append(self._asset(record, asset_id, req, now))
        return json_response(200, {"assets": assets})

    def get_model(self, req: Request, caller: Caller, now: float) -> Response:
        model = self._model(req.params["model_id"], caller)
        return json_response(200, {"model": model.to_json(caller.owner_id)})

    def download(self, req: Request, caller: Caller, now: float) -> Response:
        asset_id = req.params["asset_id"]
        problem = link_problem(
            self.signing_key, asset_id, req.query.get("expires"), req.query.get("signature"), to_ms(now)
        )
        if problem:
            raise ApiError(403, problem)
        record = self.world.asset_job(asset_id, now)
        if record is None:
            raise ApiError(404, f"Asset not found: {asset_id}")
        return Response(200, asset_png(record, asset_id), "image/png", {"Cache-Control": "private"})

    # --- helpers --------------------------------------------------------------------------

    def _model(self, model_id: str, caller: Caller) -> Model:
        model = CATALOGUE.get(model_id)
        if model is None:
            raise ApiError(404, f"Model not found: {model_id}")
        if not model.visible_to(caller.owner_id):
            raise ApiError(403, f"This API key may not use model {model_id}")
        return model

    def _asset(self, record: JobRecord, asset_id: str, req: Request, now: float) -> dict[str, Any]:
        return asset_json(
            record,
            asset_id,
            now,
            base_url=req.base_url,
            signing_key=self.signing_key,
            url_ttl_s=self.config.asset_url_ttl_s,
        )
