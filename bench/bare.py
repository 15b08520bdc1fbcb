"""Bare Celery doing the same job: a chain of three messages (submit, poll, store), nothing else.

No database, no retries policy, no leases, no sweep: the floor the pipeline is compared with.
`celery -A bench.bare worker` reads the simulator's address from BENCH_SIMULATOR_URL when a task runs.
"""

from __future__ import annotations

import os

import redis
import requests
from celery import Celery, chain

# The broker comes from CELERY_BROKER_URL, which Celery reads itself.
app = Celery("bench.bare")
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4, broker_connection_retry_on_startup=True)

POLL_EVERY_S = 0.2
DONE_KEY = "bench:bare:done"
_session: requests.Session | None = None
_redis: redis.Redis | None = None


def _http() -> requests.Session:
    global _session
    if _session is None:
        _session = requests.Session()
        _session.auth = (os.environ["BENCH_SIMULATOR_KEY"], os.environ["BENCH_SIMULATOR_SECRET"])
    return _session


def _url(path: str) -> str:
    return os.environ["BENCH_SIMULATOR_URL"].rstrip("/") + path


@app.task(name="bare.submit")
def submit(n: int) -> str:
    answer = _http().post(_url("/generate/custom/flux.1-dev"), json={"prompt": f"bare {n}", "width": 256}, timeout=30)
    answer.raise_for_status()
    return answer.json()["job"]["jobId"]


@app.task(name="bare.poll", bind=True, max_retries=None)
def poll(self, job_id: str) -> str:
    answer = _http().get(_url(f"/jobs/{job_id}"), timeout=30)
    answer.raise_for_status()
    if answer.json()["job"]["status"] not in ("success", "failure", "canceled"):
        raise self.retry(countdown=POLL_EVERY_S)
    return job_id


@app.task(name="bare.store")
def store(job_id: str) -> None:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(app.conf.broker_url)
    _redis.incr(DONE_KEY)


def send(n: int) -> None:
    chain(submit.s(n), poll.s(), store.s()).apply_async()
