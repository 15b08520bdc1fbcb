"""Flower, run as operators run it, sees the system's tasks: sent, retried, failed, succeeded."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import requests

from tests.flower.conftest import workers_status
from tests.harness import ROOT, FlowerProcess, wait_until
from worker import enqueue_generation, lanes
from worker.states import JobStatus

SUBMIT, POLL = "scenario.submit_generation", "scenario.poll_job"

Tasks = dict[str, dict[str, Any]]


def flower_tasks(flower: FlowerProcess) -> Tasks:
    """Task uuid -> what Flower knows of it, from its HTTP API."""
    answer = requests.get(f"{flower.url}/api/tasks", auth=flower.auth, timeout=5)
    answer.raise_for_status()
    return answer.json()


def tasks_of(tasks: Tasks, job_id: str, name: str) -> list[dict[str, Any]]:
    # Flower shows a task's args as their repr, e.g. "('<job id>', 2)".
    return [t for t in tasks.values() if t["name"] == name and job_id in (t["args"] or "")]


def wait_for_flower(flower: FlowerProcess, job_id: str, seen, what: str) -> Tasks:
    """Flower's tasks once `seen(tasks)` holds; its events may trail the database a little."""

    def check() -> Tasks | None:
        tasks = flower_tasks(flower)
        return tasks if seen(tasks) else None

    return wait_until(
        check,
        30,
        f"Flower to show {what} of job {job_id}",
        every_s=0.3,
        on_timeout=lambda: repr({k: v for k, v in flower_tasks(flower).items() if job_id in (v["args"] or "")}),
    )


def test_flower_refuses_its_api_without_the_right_credentials(flower):
    assert requests.get(f"{flower.url}/api/tasks", timeout=5).status_code == 401
    assert requests.get(f"{flower.url}/api/tasks", auth=(flower.user, "wrong"), timeout=5).status_code == 401
    assert requests.get(f"{flower.url}/api/tasks", auth=flower.auth, timeout=5).status_code == 200


def test_flower_lists_the_running_worker_and_the_tasks_it_serves(flower, system):
    assert [alive for name, alive in workers_status(flower).items() if name.startswith("w1@")] == [True]
    answer = requests.get(f"{flower.url}/api/workers", params={"refresh": "true"}, auth=flower.auth, timeout=10)

    assert answer.status_code == 200
    [(name, info)] = [(n, i) for n, i in answer.json().items() if n.startswith("w1@")]
    assert {SUBMIT, POLL} <= set(info["registered"])
    assert sorted(q["name"] for q in info["active_queues"]) == sorted(lanes.ALL)
    assert info["stats"]["pool"]["max-concurrency"] == 2


def enqueue_from_a_fresh_process(system, prompt: str) -> str:
    """Enqueue as an application's own process does: its task-sent event comes from its own producer."""
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "scenario-worker"), "generate", prompt],
        env={**os.environ, **system.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_flower_shows_a_job_that_succeeds_as_a_successful_submit_and_its_polls(flower, system):
    job_id = enqueue_from_a_fresh_process(system, "a copper lantern, watched by flower")
    assert system.wait_for(job_id).status is JobStatus.SUCCESS

    def seen(tasks: Tasks) -> bool:
        polls = tasks_of(tasks, job_id, POLL)
        submits = tasks_of(tasks, job_id, SUBMIT)
        # The producer's task-sent event comes over its own connection and may reach Flower last.
        sent = all(t["sent"] is not None for t in submits)
        return bool(polls) and sent and all(t["state"] == "SUCCESS" for t in submits + polls)

    tasks = wait_for_flower(flower, job_id, seen, "a successful submit and polls")

    [submit] = tasks_of(tasks, job_id, SUBMIT)
    assert submit["state"] == "SUCCESS"
    # Each task says which job it serves: its model and the start of its prompt, not just an id.
    assert "model=flux.1-dev" in submit["args"] and "prompt='a copper lantern" in submit["args"]
    assert all("model=flux.1-dev" in poll["args"] for poll in tasks_of(tasks, job_id, POLL))
    assert submit["retries"] == 0 and submit["retried"] is None
    assert submit["worker"].startswith("w1@")
    # `sent` comes from the producer's task-sent event, the rest from the worker's.
    assert submit["sent"] is not None and submit["started"] is not None and submit["succeeded"] is not None
    polls = tasks_of(tasks, job_id, POLL)
    assert len(polls) >= 1
    # Each poll is sent by the task before it, so Flower files them all under the submit.
    assert all(p["root_id"] == submit["uuid"] for p in polls)
    assert submit["uuid"] in {p["parent_id"] for p in polls}


def test_flower_shows_a_retried_submit_with_its_retry_and_then_its_success(flower, system):
    prompt = "a tin whistle, watched by flower, one 500 first"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=500, times=1)
    job_id = enqueue_generation(prompt)
    assert system.wait_for(job_id).status is JobStatus.SUCCESS

    def seen(tasks: Tasks) -> bool:
        return any(t["state"] == "SUCCESS" and t["retries"] == 1 for t in tasks_of(tasks, job_id, SUBMIT))

    tasks = wait_for_flower(flower, job_id, seen, "a submit retried once then successful")

    # A retry is the same task id sent again, so Flower keeps one entry whose
    # latest state is SUCCESS; the task-retried event it received stays on it
    # as the `retried` time and the error of that attempt.
    [submit] = tasks_of(tasks, job_id, SUBMIT)
    assert submit["state"] == "SUCCESS"
    assert submit["retries"] == 1
    assert submit["retried"] is not None
    assert submit["started"] <= submit["succeeded"]
    assert submit["retried"] < submit["succeeded"]
    assert "ServerError" in submit["exception"] and "500" in submit["exception"]
    info = requests.get(f"{flower.url}/api/task/info/{submit['uuid']}", auth=flower.auth, timeout=5).json()
    assert (info["state"], info["retries"], info["retried"]) == ("SUCCESS", 1, submit["retried"])
    assert tasks_of(tasks, job_id, POLL)


def test_flower_shows_a_dead_lettered_submit_as_failed_with_the_bad_request(flower, system):
    prompt = "a glass sword, watched by flower, refused with 400"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=400, times=1)
    job_id = enqueue_generation(prompt)
    assert system.wait_for(job_id).status is JobStatus.DEAD

    def seen(tasks: Tasks) -> bool:
        return any(t["state"] == "FAILURE" for t in tasks_of(tasks, job_id, SUBMIT))

    tasks = wait_for_flower(flower, job_id, seen, "a failed submit")

    [submit] = tasks_of(tasks, job_id, SUBMIT)
    assert submit["state"] == "FAILURE"
    assert submit["retries"] == 0 and submit["retried"] is None
    assert submit["failed"] is not None
    assert submit["exception"].startswith("BadRequest(") and "status=400" in submit["exception"]
    assert "BadRequest" in submit["traceback"]
    assert tasks_of(tasks, job_id, POLL) == []
