"""A job's end reaches the application's URL once, signed, through the broker, a worker and the database;
a receiver that keeps failing gets its delivery dead-lettered, and a replay delivers it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import update

from tests.callbacks.conftest import MAX_ATTEMPTS
from tests.harness import wait_until
from worker import enqueue_generation, runtime
from worker.db.jobs import StoredOptions
from worker.db.models import CallbackStatus, Job
from worker.endings import announce_end, queue_callback
from worker.options import JobOptions
from worker.states import JobStatus

SCRIPT = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "scenario-worker")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The installed command line, as an operator runs it."""
    return subprocess.run([SCRIPT, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def delivery_of(job_id: str, statuses=(CallbackStatus.DELIVERED,), timeout_s: float = 30.0):
    callbacks = runtime.current().callbacks

    def settled():
        delivery = callbacks.for_job(job_id)
        return delivery if delivery is not None and delivery.status in statuses else None

    return wait_until(settled, timeout_s, f"the callback of job {job_id} to be {statuses}")


def test_a_job_that_succeeds_is_told_once_to_its_url_signed_with_its_result(system, receiver):
    options = JobOptions(callback_url=receiver.url(), metadata={"order": 42}, tags=["shop"])
    job_id = enqueue_generation("a blue potion bottle, told when done", num_samples=2, options=options)

    job = system.wait_for(job_id)
    delivery = delivery_of(job_id)

    assert job.status is JobStatus.SUCCESS
    arrivals = receiver.for_job(job_id)
    assert len(arrivals) == 1 and delivery.attempts == 1
    assert arrivals[0].refused is None and arrivals[0].path == "/hooks/jobs"
    data = json.loads(arrivals[0].body)["data"]
    assert data["job_id"] == job_id and data["status"] == "success"
    assert data["asset_ids"] == job.asset_ids and len(data["asset_ids"]) == 2
    assert data["metadata"] == {"order": 42} and data["tags"] == ["shop"]
    assert data["scenario_job_id"] == job.scenario_job_id and data["error"] is None


def test_a_job_scenario_fails_is_told_with_its_error(system, receiver):
    prompt = "a cursed mirror, told of its failure"
    system.sim.faults.fail_jobs(prompt_contains=prompt, error="NSFW content detected")
    job_id = enqueue_generation(prompt, options=JobOptions(callback_url=receiver.url()))

    job = system.wait_for(job_id)
    delivery_of(job_id)

    assert job.status is JobStatus.FAILURE
    (arrival,) = receiver.for_job(job_id)
    data = json.loads(arrival.body)["data"]
    assert data["status"] == "failure"
    assert "NSFW" in data["error"]["message"]


def test_a_job_without_a_callback_url_has_no_delivery(system, receiver):
    job_id = enqueue_generation("a plain wooden shield, nobody told")
    system.wait_for(job_id)

    assert runtime.current().callbacks.for_job(job_id) is None


def test_an_end_recorded_by_many_workers_at_once_queues_one_delivery(system, receiver):
    jobs = runtime.current().jobs
    job = jobs.create(
        model_id="flux.1-dev", params={"prompt": "raced"}, options=StoredOptions(callback_url=receiver.url())
    )
    jobs.mark_status(job.id, JobStatus.CANCELED)
    start = threading.Barrier(8)
    queued: list[int | None] = []

    def record() -> None:
        start.wait()
        queued.append(queue_callback(job.id))

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delivery_of(job.id)
    announce_end(job.id)  # told once more, late: nothing new

    assert len([q for q in queued if q is not None]) == 1
    assert len(receiver.for_job(job.id)) == 1


def test_a_receiver_that_keeps_failing_gets_the_delivery_dead_lettered_then_replayed(system, receiver):
    receiver.answer = 500
    job_id = enqueue_generation("a broken lantern, told too often", options=JobOptions(callback_url=receiver.url()))
    system.wait_for(job_id)

    dead = delivery_of(job_id, (CallbackStatus.DEAD,))

    assert dead.attempts == MAX_ATTEMPTS and dead.last_http_status == 500
    assert len(receiver.for_job(job_id)) == MAX_ATTEMPTS
    assert all(a.refused is None for a in receiver.for_job(job_id))
    listed = run("callbacks", "list", "--json", env=system.env)
    assert listed.returncode == 0, listed.stderr
    row = next(d for d in json.loads(listed.stdout) if d["job_id"] == job_id)
    assert row["status"] == "dead" and row["attempts"] == MAX_ATTEMPTS and row["last_http_status"] == 500

    receiver.answer = 200
    replayed = run("callbacks", "replay", str(dead.id), env=system.env)
    assert replayed.returncode == 0, replayed.stderr
    delivered = delivery_of(job_id)

    assert delivered.attempts == MAX_ATTEMPTS + 1 and delivered.replayed_at is not None
    arrivals = receiver.for_job(job_id)
    assert len(arrivals) == MAX_ATTEMPTS + 1
    assert len({a.body for a in arrivals}) == 1  # the same message each time, signed afresh


def test_a_410_stops_the_deliveries_at_once(system, receiver):
    receiver.answer = 410
    job_id = enqueue_generation("a vanished scroll, gone", options=JobOptions(callback_url=receiver.url()))
    system.wait_for(job_id)

    gone = delivery_of(job_id, (CallbackStatus.GONE,))

    assert gone.attempts == 1 and len(receiver.for_job(job_id)) == 1


def test_a_delivered_callback_is_not_replayed(system, receiver):
    job_id = enqueue_generation("a golden key, delivered once", options=JobOptions(callback_url=receiver.url()))
    system.wait_for(job_id)
    delivery = delivery_of(job_id)

    refused = run("callbacks", "replay", str(delivery.id), env=system.env)
    unknown = run("callbacks", "replay", "999999", env=system.env)

    assert refused.returncode == 1 and "is delivered; only dead or gone ones are replayed" in refused.stderr
    assert unknown.returncode == 1 and "no callback delivery with id 999999" in unknown.stderr
    assert len(receiver.for_job(job_id)) == 1


def test_an_end_whose_callback_was_never_recorded_is_told_by_the_recovery(system, receiver):
    # As if the worker that wrote the end died before recording its callback.
    jobs = runtime.current().jobs
    job = jobs.create(
        model_id="flux.1-dev", params={"prompt": "orphaned end"}, options=StoredOptions(callback_url=receiver.url())
    )
    jobs.mark_status(job.id, JobStatus.DEAD, error={"code": "DEADLINE", "status": None, "message": "too late"})
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    with runtime.current().database.session() as session:
        session.execute(update(Job).where(Job.id == job.id).values(finished_at=an_hour_ago))

    delivery_of(job.id, timeout_s=60)

    (arrival,) = receiver.for_job(job.id)
    data = json.loads(arrival.body)["data"]
    assert data["status"] == "dead" and data["error"]["code"] == "DEADLINE"
