"""The Scenario endpoints themselves: routes, and one handler per endpoint."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from worker.simulator import generation as gen
from worker.simulator.assets import Asset, find_asset
from worker.simulator.config import SimulatorConfig
from worker.simulator.faults import Faults
from worker.simulator.listing import page as list_page
from worker.simulator.listing import parse_list_query
from worker.simulator.messages import ApiError, Request, Response, json_response
from worker.simulator.models import CATALOGUE, Model, cost_of
from worker.simulator.signing import link_problem
from worker.simulator.stats import Stats
from worker.simulator.timefmt import to_ms
from worker.simulator.uploads import parse_upload
from worker.simulator.views import asset_json, job_json
from worker.simulator.world import JobRecord, ParallelLimitReached, Upload, World, new_id

MAX_BULK_ASSETS = 200
DRY_RUN_STATUS = 269
# What GET /teams/{id}/limits reports beside the parallel cap (the plan's other numbers).
INFERENCE_BATCH_SIZE = 8
MIN_COOLDOWN_S = 0
MAX_COOLDOWN_S = 60


@dataclass(frozen=True)
class Caller:
    """Who is asking: the API key and the ids it stands for."""

    api_key: str
    owner_id: str
    author_id: str


def identity(api_key: str, owner_key: str | None = None) -> Caller:
    """Stable owner and author ids for an API key, shaped like Scenario's; owner_key puts it in that key's team."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    owner = hashlib.sha256((owner_key or api_key).encode()).hexdigest()[:22]
    return Caller(api_key=api_key, owner_id=owner, author_id=digest[22:54])


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
            Route("POST", re.compile(r"/v1/assets"), "upload_asset", self.upload_asset),
            Route("POST", re.compile(r"/v1/assets/get-bulk"), "get_assets_bulk", self.get_assets_bulk),
            Route("GET", re.compile(r"/v1/assets/(?P<asset_id>[^/]+)"), "get_asset", self.get_asset),
            Route("GET", re.compile(r"/v1/models/(?P<model_id>[^/]+)"), "get_model", self.get_model),
            Route("GET", re.compile(r"/v1/teams/(?P<team_id>[^/]+)/limits"), "get_team_limits", self.team_limits),
            Route("GET", re.compile(r"/_files/(?P<asset_id>[^/.]+)\.(?P<ext>\w+)"), "download", self.download, False),
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

    # --- generating -----------------------------------------------------------------------

    def submit(self, req: Request, caller: Caller, now: float) -> Response:
        dry_run = gen.parse_dry_run(req.query.get("dryRun"))
        path_model = req.params.get("model_id")
        if path_model is None:
            model_id, sent = gen.legacy_inputs(req.json())
            model = self._model(model_id, caller)
            full = gen.legacy_full(model, sent)
        else:
            model = self._model(path_model, caller)
            full = gen.custom_inputs(model, req.json(), self._file_lookup(caller, now))
        cost, details = cost_of(model, full)
        if dry_run:
            body = {"creativeUnitsCost": cost, "creativeUnitsDiscount": 0, "costDetails": details, "job": {}}
            return json_response(DRY_RUN_STATUS, body)
        record = self._create(model, full, caller, now, parallel_limit=self.config.parallel_inferences)
        # A seed the service picked differs every time; only a sent one tells two submissions apart.
        same = {**full, "seed": req.json().get("seed")}
        fingerprint = json.dumps([caller.api_key, model.id, same], sort_keys=True).encode()
        self.stats.note_job_created(hashlib.sha256(fingerprint).digest()[:16], str(full.get("prompt", "")))
        body = {"job": job_json(record, now), "creativeUnitsCost": cost, "creativeUnitsDiscount": 0}
        return json_response(200, body)

    def plant_job(
        self, model_id: str, inputs: Any, *, api_key: str | None, duration_s: float | None, now: float
    ) -> dict[str, Any]:
        """A job made by another program of the configured key's team; no parallel cap, charged as usual."""
        team = identity(self.config.api_key)
        caller = identity(api_key or self.config.api_key, owner_key=self.config.api_key)
        model = self._model(model_id, team)
        full = gen.custom_inputs(model, inputs, self._file_lookup(team, now))
        record = self._create(model, full, caller, now, parallel_limit=0, duration_s=duration_s)
        self.stats.note_planted()
        return job_json(record, now)

    def _create(
        self,
        model: Model,
        full: dict[str, Any],
        caller: Caller,
        now: float,
        *,
        parallel_limit: int,
        duration_s: float | None = None,
    ) -> JobRecord:
        cfg = self.config
        prompt = str(full.get("prompt", ""))
        planned_s, error = self.faults.job_plan(prompt, model.id, cfg.job_duration_s, cfg.job_duration_jitter)
        cost, details = cost_of(model, full)
        try:
            return self.world.create_job(
                owner_id=caller.owner_id,
                author_id=caller.author_id,
                model=model,
                inputs=full,
                duration_s=planned_s if duration_s is None else duration_s,
                error=error,
                cu_cost=cost,
                cu_details=details,
                output_size=gen.output_size(model, full, lambda asset_id: find_asset(self.world, asset_id, now)),
                parallel_limit=parallel_limit,
                now=now,
            )
        except ParallelLimitReached:
            self.stats.note_parallel_refusal()
            raise

    def _file_lookup(self, caller: Caller, now: float) -> Callable[[str], int | None]:
        def size_of(asset_id: str) -> int | None:
            asset = find_asset(self.world, asset_id, now)
            return None if asset is None or asset.owner_id != caller.owner_id else len(asset.content())

        return size_of

    # --- jobs -----------------------------------------------------------------------------

    def get_job(self, req: Request, caller: Caller, now: float) -> Response:
        record = self._job(req.params["job_id"], caller)
        self.stats.note_job_get(record.job_id)
        return json_response(200, {"job": self._job_json(record, now)})

    def list_jobs(self, req: Request, caller: Caller, now: float) -> Response:
        query = parse_list_query(req.query, strict_filters=self.config.strict_list_filters)
        entries = []
        if query.by_update:
            # Only jobs that end after `updatedAfter` can have changed since: the rest are not read.
            since = query.updated_after_ms
            pool = self.world.jobs() if since is None else self.world.ending_after(since)
            for record in pool:
                if record.owner_id != caller.owner_id:
                    continue
                state = record.state(now)
                updated_ms, created_ms = to_ms(state.updated_at), to_ms(record.times.created_at)
                if query.keeps(state.status, record.model.job_type, None, updated_ms, created_ms):
                    entries.append(((updated_ms, record.job_id), record))
        else:
            # By creation, with no other filter than `createdAfter`: the page is the newest jobs below the cursor.
            newest = self.world.newest_created(
                owner_id=caller.owner_id, below=query.after, above_ms=query.created_after_ms, limit=query.page_size + 1
            )
            entries = [((to_ms(record.times.created_at), record.job_id), record) for record in newest]
        records, next_token = list_page(entries, page_size=query.page_size, after=query.after)
        payload: dict[str, object] = {"jobs": [self._job_json(record, now) for record in records]}
        if next_token:
            payload["nextPaginationToken"] = next_token
        return json_response(200, payload)

    def job_action(self, req: Request, caller: Caller, now: float) -> Response:
        body = gen.ensure_object(req.json())
        for name in body:
            if name != "action":
                raise ApiError(400, f'"{name}" is not allowed')
        if body.get("action") != "cancel":
            raise ApiError(400, '"action" must be "cancel"')
        record = self._job(req.params["job_id"], caller)
        if not record.model.cancelable:
            raise ApiError(400, "Cannot cancel this type of job")
        # Cancelling a job that is already final answers it unchanged, so a retried cancel is harmless.
        record = self.world.cancel(record.job_id, now) or record
        return json_response(200, {"job": self._job_json(record, now)})

    def _job(self, job_id: str, caller: Caller) -> JobRecord:
        record = self.world.job(job_id)
        if record is None or record.owner_id != caller.owner_id:
            raise ApiError(404, f"Job not found: {job_id}")
        return record

    def _job_json(self, record: JobRecord, now: float) -> dict[str, Any]:
        return job_json(record, now, refunded=self.world.is_refunded(record.job_id, now))

    # --- assets ---------------------------------------------------------------------------

    def upload_asset(self, req: Request, caller: Caller, now: float) -> Response:
        image = parse_upload(req.json(), self.config.max_upload_bytes)
        upload = Upload(
            asset_id=new_id("asset_"),
            owner_id=caller.owner_id,
            author_id=caller.author_id,
            name=image.name,
            mime_type=image.mime_type,
            data=image.data,
            width=image.width,
            height=image.height,
            created_at=now,
        )
        self.world.add_upload(upload)
        self.stats.note_upload(hashlib.sha256(image.data).hexdigest())
        asset = find_asset(self.world, upload.asset_id, now)
        assert asset is not None
        return json_response(200, {"asset": self._asset(asset, req, now)})

    def get_asset(self, req: Request, caller: Caller, now: float) -> Response:
        asset_id = req.params["asset_id"]
        asset = find_asset(self.world, asset_id, now)
        if asset is None or asset.owner_id != caller.owner_id:
            raise ApiError(404, f"Asset not found: {asset_id}")
        return json_response(200, {"asset": self._asset(asset, req, now)})

    def get_assets_bulk(self, req: Request, caller: Caller, now: float) -> Response:
        body = gen.ensure_object(req.json())
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
            asset = find_asset(self.world, asset_id, now)
            if asset is not None and asset.owner_id == caller.owner_id:
                assets.append(self._asset(asset, req, now))
        return json_response(200, {"assets": assets})

    def download(self, req: Request, caller: Caller, now: float) -> Response:
        asset_id = req.params["asset_id"]
        problem = link_problem(
            self.signing_key, asset_id, req.query.get("expires"), req.query.get("signature"), to_ms(now)
        )
        if problem:
            raise ApiError(403, problem)
        asset = find_asset(self.world, asset_id, now)
        if asset is None or asset.extension != req.params["ext"]:
            raise ApiError(404, f"Asset not found: {asset_id}.{req.params['ext']}")
        return Response(200, asset.content(), asset.mime_type, {"Cache-Control": "private"})

    def _asset(self, asset: Asset, req: Request, now: float) -> dict[str, Any]:
        ttl_s = self.config.asset_url_ttl_s
        return asset_json(asset, now, base_url=req.base_url, signing_key=self.signing_key, url_ttl_s=ttl_s)

    # --- models and the team --------------------------------------------------------------

    def get_model(self, req: Request, caller: Caller, now: float) -> Response:
        model = self._model(req.params["model_id"], caller)
        return json_response(200, {"model": model.to_json(caller.owner_id)})

    def team_limits(self, req: Request, caller: Caller, now: float) -> Response:
        if req.params["team_id"] != caller.owner_id:
            raise ApiError(404, f"Team not found: {req.params['team_id']}")
        parallel = self.config.parallel_inferences or None  # null: no cap
        credits = self.world.credits_left(caller.owner_id, now)
        limits = {
            "parallelInferences": parallel,
            "parallelCustomJobs": parallel,
            "creativeUnits": None if credits == float("inf") else credits,
            "inferenceBatchSize": INFERENCE_BATCH_SIZE,
            "minCooldown": MIN_COOLDOWN_S,
            "maxCooldown": MAX_COOLDOWN_S,
        }
        return json_response(200, {"limits": limits})

    def _model(self, model_id: str, caller: Caller) -> Model:
        model = CATALOGUE.get(model_id)
        if model is None:
            raise ApiError(404, f"Model not found: {model_id}")
        if not model.visible_to(caller.owner_id):
            raise ApiError(403, f"This API key may not use model {model_id}")
        return model
