"""A FastAPI application in front of scenario-worker.

`POST /generations` enqueues a generation under the client's `Idempotency-Key` (a retried
request gets the first one's job) with this application's webhook as its callback URL;
`POST /hooks/scenario` takes the signed callback when the job ends; `GET /generations/{id}`
says where a job stands. Run it with

    APP_CALLBACK_SECRET=whsec_... APP_PUBLIC_URL=http://127.0.0.1:8000 \\
        uvicorn --factory examples.fastapi_app.app:from_env

next to workers started with the same secret in SCENARIO_CALLBACK_SECRET.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field

from worker import aio
from worker.callbacks import SeenIds, SignatureError, verify
from worker.options import JobOptions

HOOK_PATH = "/hooks/scenario"


class GenerationRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=2000)
    width: int | None = None
    height: int | None = None


class Enqueued(BaseModel):
    job_id: str


class JobState(BaseModel):
    job_id: str
    status: str
    asset_ids: list[str]
    told: bool


class JobEnds:
    """What the application does with a job's end: here, keeps it (an application writes its own rows).

    `record` raising makes the webhook answer 500, so the worker delivers it again later.
    """

    def __init__(self) -> None:
        self.ended: dict[str, dict[str, Any]] = {}
        self.times_told: dict[str, int] = {}

    def record(self, data: dict[str, Any]) -> None:
        job_id = str(data["job_id"])
        self.ended[job_id] = data
        self.times_told[job_id] = self.times_told.get(job_id, 0) + 1


def create_app(*, callback_secret: str, public_url: str, ends: JobEnds | None = None) -> FastAPI:
    """The application; `public_url` is where the workers reach it (its webhook is under it)."""
    app = FastAPI(title="scenario-worker example")
    store = ends if ends is not None else JobEnds()
    seen = SeenIds()
    callback_url = public_url.rstrip("/") + HOOK_PATH

    @app.post("/generations", status_code=202)
    async def generate(
        request: GenerationRequest, idempotency_key: Annotated[str, Header(min_length=1, max_length=200)]
    ) -> Enqueued:
        inputs = {name: value for name, value in (("width", request.width), ("height", request.height)) if value}
        try:
            options = JobOptions(idempotency_key=idempotency_key, callback_url=callback_url)
            job_id = await aio.enqueue_generation(request.prompt, inputs=inputs, options=options)
        except ValueError as exc:
            # The message names the field or input that is wrong.
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        return Enqueued(job_id=job_id)

    @app.get("/generations/{job_id}")
    async def status(job_id: str) -> JobState:
        job = await aio.get_job(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id}")
        return JobState(
            job_id=job.id,
            status=job.status.value,
            asset_ids=[str(a) for a in job.asset_ids],
            told=job.id in store.ended,
        )

    @app.post(HOOK_PATH)
    async def job_ended(request: Request) -> dict[str, bool]:
        # The raw body: the signature is over the bytes as sent, not over re-encoded JSON.
        body = await request.body()
        try:
            webhook_id = verify(callback_secret, request.headers, body, seen=seen)
        except SignatureError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        try:
            store.record(json.loads(body)["data"])
        except Exception as exc:
            # Not taken after all: the worker's next attempt must not be refused as a replay.
            seen.forget(webhook_id)
            raise HTTPException(status_code=500, detail="could not record the job's end") from exc
        return {"ok": True}

    app.state.ends = store
    return app


def from_env() -> FastAPI:
    """`uvicorn --factory examples.fastapi_app.app:from_env`: the settings from the environment."""
    missing = [name for name in ("APP_CALLBACK_SECRET", "APP_PUBLIC_URL") if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"set {' and '.join(missing)} (see examples/fastapi_app/app.py)")
    return create_app(callback_secret=os.environ["APP_CALLBACK_SECRET"], public_url=os.environ["APP_PUBLIC_URL"])
