"""The FastAPI example under uvicorn, end to end against the simulator, a worker, Redis and the database:
a request enqueues, the job succeeds, the app is told once with a signed callback and refuses forged
and replayed ones; while it answers 500 the callback is retried, then dead-lettered, then replayed."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn

from examples.fastapi_app.app import JobEnds, create_app
from tests.callbacks.conftest import CALLBACK_ENV, CALLBACK_SECRET, MAX_ATTEMPTS
from tests.conftest import KEY, ON_POSTGRES, SECRET
from tests.harness import System, free_port, running_system, wait_until
from worker import runtime, wait_for
from worker.callbacks import signed_headers
from worker.db.models import CallbackStatus
from worker.simulator import SimulatorConfig
from worker.states import JobStatus

pytestmark = ON_POSTGRES

SCRIPT = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "scenario-worker")


class FlakyEnds(JobEnds):
    """The application's own storage, which the test can break."""

    broken = False

    def record(self, data: dict[str, Any]) -> None:
        if self.broken:
            raise RuntimeError("the application's database is down")
        super().record(data)


@pytest.fixture(scope="module")
def system(backend_url, redis_url, tmp_path_factory) -> Iterator[System]:
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=13)
    with running_system(
        database_url=backend_url,
        broker_url=redis_url,
        redis_url=redis_url,
        workdir=tmp_path_factory.mktemp("workers"),
        sim_config=config,
        **CALLBACK_ENV,
    ) as system:
        yield system


@dataclass
class RunningApp:
    url: str
    ends: FlakyEnds


@pytest.fixture(scope="module")
def running_app(system) -> Iterator[RunningApp]:
    """The example under uvicorn on a free port, its callbacks coming from the system's worker."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ends = FlakyEnds()
    app = create_app(callback_secret=CALLBACK_SECRET, public_url=url, ends=ends)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 15, "uvicorn to start")
    yield RunningApp(url, ends)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def app(running_app) -> Iterator[RunningApp]:
    yield running_app
    running_app.ends.broken = False


def generate(app_url: str, prompt: str, key: str) -> str:
    answer = requests.post(
        f"{app_url}/generations", json={"prompt": prompt}, headers={"Idempotency-Key": key}, timeout=30
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["job_id"]


def settled(job_id: str, status: CallbackStatus, timeout_s: float = 30.0):
    callbacks = runtime.current().callbacks

    def check():
        delivery = callbacks.for_job(job_id)
        return delivery if delivery is not None and delivery.status is status else None

    return wait_until(check, timeout_s, f"the callback of job {job_id} to be {status.value}")


def post_hook(app_url: str, body: str, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{app_url}/hooks/scenario",
        data=body.encode(),
        headers={**headers, "content-type": "application/json"},
        timeout=10,
    )


def test_a_request_enqueues_the_job_succeeds_and_the_app_is_told_once_with_a_signed_callback(app):
    job_id = generate(app.url, "a copper shield, from the web app", "order-1001")

    job = wait_for(job_id, timeout_s=60)
    delivery = settled(job_id, CallbackStatus.DELIVERED)

    assert job.status is JobStatus.SUCCESS
    assert app.ends.times_told[job_id] == 1 and delivery.attempts == 1
    assert app.ends.ended[job_id]["asset_ids"] == job.asset_ids
    state = requests.get(f"{app.url}/generations/{job_id}", timeout=10).json()
    assert state == {"job_id": job_id, "status": "success", "asset_ids": job.asset_ids, "told": True}

    forged = signed_headers(CALLBACK_SECRET, delivery.webhook_id, delivery.body)
    changed_body = delivery.body.replace('"success"', '"failure"')
    assert post_hook(app.url, changed_body, forged).status_code == 400
    other_secret = "whsec_" + base64.b64encode(b"not the receiver's key, 32 bytes").decode()
    assert (
        post_hook(app.url, delivery.body, signed_headers(other_secret, delivery.webhook_id, delivery.body)).status_code
        == 400
    )
    # Genuine and fresh, but its id was taken already: a captured delivery sent again.
    replayed = post_hook(app.url, delivery.body, signed_headers(CALLBACK_SECRET, delivery.webhook_id, delivery.body))
    assert replayed.status_code == 400 and "already taken" in replayed.text
    assert app.ends.times_told[job_id] == 1


def test_while_the_app_answers_500_the_callback_is_retried_then_dead_lettered_then_replayed(app, system):
    app.ends.broken = True
    job_id = generate(app.url, "an iron helm, told while the app is down", "order-1002")
    wait_for(job_id, timeout_s=60)

    dead = settled(job_id, CallbackStatus.DEAD)

    assert dead.attempts == MAX_ATTEMPTS and dead.last_http_status == 500
    assert job_id not in app.ends.ended
    listed = cli("callbacks", "list", "--json", env=system.env)
    assert [d["id"] for d in json.loads(listed) if d["job_id"] == job_id] == [dead.id]

    app.ends.broken = False
    cli("callbacks", "replay", str(dead.id), env=system.env)
    delivered = settled(job_id, CallbackStatus.DELIVERED)

    assert delivered.attempts == MAX_ATTEMPTS + 1
    assert app.ends.times_told[job_id] == 1 and app.ends.ended[job_id]["status"] == "success"


def test_a_request_without_an_idempotency_key_or_with_a_bad_input_is_refused(app):
    no_key = requests.post(f"{app.url}/generations", json={"prompt": "a bow"}, timeout=10)
    bad_width = requests.post(
        f"{app.url}/generations", json={"prompt": "a bow", "width": 7}, headers={"Idempotency-Key": "k-7"}, timeout=30
    )

    assert no_key.status_code == 422 and "idempotency-key" in no_key.text
    assert bad_width.status_code == 422 and "width" in bad_width.text


def cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([SCRIPT, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout
