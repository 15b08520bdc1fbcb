"""A synchronous client for the Scenario API over one pooled `requests.Session`.

It makes exactly one HTTP request per call and never retries: deciding when to
try again belongs to the queue, which knows about deadlines and Retry-After.
Every failure leaves as a `ScenarioError` subclass that says whether a retry
can help.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from worker.scenario.errors import RateLimited, UnexpectedResponse
from worker.scenario.listing import jobs_query
from worker.scenario.models import (
    ASSET_KEYS,
    JOB_KEYS,
    MODEL_KEYS,
    Estimate,
    JobPage,
    Submission,
    estimate,
    job_page,
    submission,
    team_limits,
    unwrap,
    unwrap_list,
)
from worker.scenario.transport import Transport, secrets_of

if TYPE_CHECKING:
    from worker.settings import Settings

__all__ = ["ScenarioClient", "JobPage", "Submission", "Estimate", "BULK_ASSETS_MAX", "ENDPOINTS"]

# Scenario refuses more ids than this in one `POST /assets/get-bulk`.
BULK_ASSETS_MAX = 200

# The names `before_request` receives (the simulator's fault rules use the same ones).
ENDPOINTS = (
    "submit",
    "get_job",
    "list_jobs",
    "cancel",
    "get_asset",
    "get_assets_bulk",
    "upload_asset",
    "get_model",
    "get_team_limits",
    "download",
)

# `type/subtype` of an image, as the data URL of `POST /assets` carries it.
_IMAGE_MIME = re.compile(r"image/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")


class ScenarioClient:
    """The Scenario endpoints the worker needs, one method each."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        before_request: Callable[[str], None] | None = None,
        on_rate_limited: Callable[[RateLimited], None] | None = None,
        on_answer: Callable[[str, int | None], None] | None = None,
        user_agent: str = "scenario-worker/0.1",
    ) -> None:
        self.base_url = _checked_base_url(base_url)
        self.api_key = api_key
        self._auth = (api_key, api_secret)
        for name, value in (("connect_timeout_s", connect_timeout_s), ("read_timeout_s", read_timeout_s)):
            if not value > 0:
                raise ValueError(f"{name} must be greater than 0, got {value!r}")
        self._transport = Transport(
            timeout=(connect_timeout_s, read_timeout_s),
            user_agent=user_agent,
            before_request=before_request,
            on_rate_limited=on_rate_limited,
            on_answer=on_answer,
            never_shown=secrets_of(api_key, api_secret),
        )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ScenarioClient:
        """A client for the URL, credentials and timeouts in `settings`."""
        options: dict[str, Any] = {
            "connect_timeout_s": settings.connect_timeout_s,
            "read_timeout_s": settings.read_timeout_s,
        }
        options.update(overrides)
        return cls(settings.scenario_api_url, settings.scenario_api_key, settings.scenario_api_secret, **options)

    def __repr__(self) -> str:
        return f"ScenarioClient(base_url={self.base_url!r}, api_key={self.api_key!r})"

    def __enter__(self) -> ScenarioClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    # -- generations -------------------------------------------------------

    def generate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Start a text-to-image job on the legacy route; the new job (status `queued`)."""
        return self.submit_txt2img(params).job

    def submit_txt2img(self, params: Mapping[str, Any]) -> Submission:
        """Start a job on the legacy `POST /generate/txt2img` route (`modelId` in `params`)."""
        body = self._call("submit", "POST", "/generate/txt2img", json_body=dict(params))
        return submission(body, what="generate")

    def generate_custom(self, model_id: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Start a job on `model_id` with the model's own inputs; the new job."""
        return self.submit_custom(model_id, inputs).job

    def submit_custom(self, model_id: str, inputs: Mapping[str, Any]) -> Submission:
        """Start a job on `model_id` with the model's own inputs; the job and what it costs."""
        body = self._call("submit", "POST", _custom_path(model_id), json_body=dict(inputs))
        return submission(body, what="generate custom")

    def estimate_cost(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        model_id: str | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> float:
        """Creative units a job would cost, without running it: txt2img `params`, or `model_id` + `inputs`."""
        return self.estimate(params, model_id=model_id, inputs=inputs).creative_units_cost

    def estimate(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        model_id: str | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> Estimate:
        """A dry run (`?dryRun=true`, answered HTTP 269): the cost and discount, nothing started.

        Either `params` for the legacy txt2img route, or `model_id` and `inputs` for the custom route.
        """
        if (params is None) == (model_id is None):
            raise ValueError("estimate needs either params (txt2img) or model_id with inputs (custom), not both")
        if params is not None:
            path, body = "/generate/txt2img", dict(params)
        else:
            path, body = _custom_path(model_id), dict(inputs or {})
        return estimate(self._call("submit", "POST", path, query={"dryRun": "true"}, json_body=body))

    # -- jobs --------------------------------------------------------------

    def get_job(self, job_id: str) -> dict[str, Any]:
        """One job as Scenario sees it now."""
        body = self._call("get_job", "GET", f"/jobs/{_segment(job_id, 'job_id')}")
        return unwrap(body, "job", JOB_KEYS, what="get job")

    def list_jobs(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        types: Sequence[str] | None = None,
        workflow_id: str | None = None,
        updated_after: datetime | str | None = None,
        created_after: datetime | str | None = None,
        page_size: int | None = None,
        pagination_token: str | None = None,
    ) -> JobPage:
        """One page of jobs. `updated_after` needs `status`, `type`, `types` or `workflow_id` (ValueError
        otherwise: use `created_after`), as Scenario only sorts by update date when narrowed by those."""
        query = jobs_query(
            status=status,
            type=type,
            types=types,
            workflow_id=workflow_id,
            updated_after=updated_after,
            created_after=created_after,
            page_size=page_size,
            pagination_token=pagination_token,
        )
        return job_page(self._call("list_jobs", "GET", "/jobs", query=query))

    def iter_jobs(self, *, page_size: int = 100, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every matching job, page after page, until Scenario gives no further token.

        `filters` are `list_jobs`'s: status, type, types, workflow_id, updated_after, created_after.
        """
        # Checked before the first request, so a misplaced filter fails even if no page is read.
        jobs_query(page_size=page_size, **filters)
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self.list_jobs(page_size=page_size, pagination_token=token, **filters)
            yield from page.jobs
            if page.next_token is None:
                return
            # A cursor that comes back again would page forever.
            if page.next_token in seen:
                raise UnexpectedResponse(f"list jobs: pagination token {page.next_token!r} came back twice")
            seen.add(page.next_token)
            token = page.next_token

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Ask Scenario to cancel a running job; the job if Scenario returns it, else the answer."""
        path = f"/jobs/{_segment(job_id, 'job_id')}/action"
        body = self._call("cancel", "POST", path, json_body={"action": "cancel"})
        if isinstance(body, Mapping) and "job" in body:
            return unwrap(body, "job", JOB_KEYS, what="cancel job")
        if body is None:
            return {}
        if not isinstance(body, Mapping):
            raise UnexpectedResponse("cancel job: the answer is not a JSON object")
        return dict(body)

    # -- assets and models ---------------------------------------------------

    def get_asset(self, asset_id: str) -> dict[str, Any]:
        """One asset, with a freshly signed download `url`."""
        body = self._call("get_asset", "GET", f"/assets/{_segment(asset_id, 'asset_id')}")
        return unwrap(body, "asset", ASSET_KEYS, what="get asset")

    def get_assets(self, asset_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Many assets, fetched in as few bulk calls as Scenario's limit of 200 ids allows."""
        if isinstance(asset_ids, str):
            raise TypeError("asset_ids must be a sequence of ids, not one string")
        ids = list(asset_ids)
        for asset_id in ids:
            _segment(asset_id, "asset_ids[]")
        assets: list[dict[str, Any]] = []
        for start in range(0, len(ids), BULK_ASSETS_MAX):
            chunk = ids[start : start + BULK_ASSETS_MAX]
            body = self._call("get_assets_bulk", "POST", "/assets/get-bulk", json_body={"assetIds": chunk})
            assets.extend(unwrap_list(body, "assets", ASSET_KEYS, what="get assets"))
        return assets

    def upload_image(self, name: str, data: bytes, mime_type: str) -> dict[str, Any]:
        """Upload an image to use as a file input (`POST /assets`); the new asset, whose `id` goes in the input."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a non-empty file name, got {name!r}")
        if not isinstance(data, (bytes, bytearray)) or not data:
            raise ValueError("data must be the image's bytes, not empty")
        if not isinstance(mime_type, str) or not _IMAGE_MIME.fullmatch(mime_type):
            raise ValueError(
                f"mime_type must be an image type such as image/png or image/jpeg, got {mime_type!r} "
                "(other files go through POST /uploads)"
            )
        encoded = base64.b64encode(bytes(data)).decode("ascii")
        body = self._call(
            "upload_asset", "POST", "/assets", json_body={"name": name, "image": f"data:{mime_type};base64,{encoded}"}
        )
        return unwrap(body, "asset", ASSET_KEYS, what="upload asset")

    def get_team_limits(self, team_id: str) -> dict[str, Any]:
        """The team's plan limits (`parallelInferences`, `parallelCustomJobs`, `creativeUnits`, ...)."""
        body = self._call("get_team_limits", "GET", f"/teams/{_segment(team_id, 'team_id')}/limits")
        return team_limits(body)

    def get_model(self, model_id: str) -> dict[str, Any]:
        """One model, with its `inputs`: the input schema `worker.scenario.schema.ModelSchema` reads."""
        body = self._call("get_model", "GET", f"/models/{_segment(model_id, 'model_id')}")
        model = unwrap(body, "model", MODEL_KEYS, what="get model")
        if "inputs" in model and not isinstance(model["inputs"], list):
            raise UnexpectedResponse("get model: model 'inputs' is not a list")
        return model

    def download(self, url: str) -> bytes:
        """The bytes behind a signed asset URL, fetched without the API credentials."""
        scheme = urlsplit(url).scheme if isinstance(url, str) else ""
        if scheme not in ("http", "https"):
            raise UnexpectedResponse(f"download: the asset URL is not http(s): {url!r}")
        # No auth: the URL is signed and points at a CDN that must never see the key.
        response = self._transport.send("download", "GET", url, headers={"Accept": "*/*"}, allow_redirects=True)
        return self._transport.checked(response).content

    def _call(
        self, endpoint: str, method: str, path: str, *, query: Mapping[str, str] | None = None, json_body: Any = None
    ) -> Any:
        """One authenticated API request; the parsed JSON of its 2xx answer."""
        return self._transport.send_json(
            endpoint,
            method,
            self.base_url + path,
            params=query,
            json=json_body,
            auth=self._auth,
            # The API never redirects; following one could take the credentials elsewhere.
            allow_redirects=False,
        )


def _checked_base_url(base_url: str) -> str:
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not carry a query or fragment, got {base_url!r}")
    return base_url.rstrip("/")


def _custom_path(model_id: str | None) -> str:
    return f"/generate/custom/{_segment(model_id, 'model_id')}"


def _segment(value: str, name: str) -> str:
    """An id made safe to place in a URL path (a `/` or `?` in it cannot change the route)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value, safe="")
