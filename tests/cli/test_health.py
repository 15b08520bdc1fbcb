"""`scenario-worker health`: the exec probes, against a real worker, database, broker and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import time

import psycopg

from tests.harness import ROOT, wait_until
from tests.services import PG_ADMIN_URL, throwaway_postgres
from worker.cli.localstack import WorkerProcess
from worker.db.migrate import upgrade
from worker.heartbeat import read_beat, write_beat

SCRIPT = str(ROOT / ".venv" / "bin" / "scenario-worker")


def health(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCENARIO_", "DATABASE_URL", "CELERY_"))}
    return subprocess.run(
        [SCRIPT, "health", *args], env={**base, **env}, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_health_worker_exits_zero_while_a_real_worker_beats_and_one_once_it_stopped(tmp_path):
    beat_file = tmp_path / "heartbeat"
    env = {
        "CELERY_BROKER_URL": f"filesystem://{tmp_path / 'broker'}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
        "SCENARIO_HEARTBEAT_FILE": str(beat_file),
        "SCENARIO_HEARTBEAT_INTERVAL_S": "0.5",
        "SCENARIO_RECONCILE_INTERVAL_S": "0",
    }
    upgrade(env["DATABASE_URL"])
    assert health("--worker", env=env).returncode == 1  # nothing beat yet

    worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=1, name="beating").start()
    try:
        first = wait_until(lambda: read_beat(beat_file), 10, "the first beat", on_timeout=worker.tail)
        later = wait_until(
            lambda: (b := read_beat(beat_file)) and b.at > first.at and b, 10, "a later beat", on_timeout=worker.tail
        )
        alive = health("--worker", "--json", env=env)
        text = health("--worker", env=env)
        log_tail = worker.tail()
    finally:
        worker.stop()

    assert alive.returncode == 0, f"{alive.stdout}{alive.stderr}\nthe worker's log:\n{log_tail}"
    answer = json.loads(alive.stdout)
    assert answer["alive"] is True
    assert answer["hostname"].startswith("beating@")
    assert answer["pid"] == later.pid == worker.proc.pid  # the main process beats, not a pool child
    assert text.returncode == 0 and text.stdout.startswith("worker alive: last beat"), f"{text.stdout}\n{log_tail}"
    stopped = health("--worker", env=env)
    assert stopped.returncode == 1
    assert "NOT ALIVE" in stopped.stdout


def test_health_worker_calls_a_stale_beat_not_alive_unless_max_age_allows_it(tmp_path):
    env = {"SCENARIO_HEARTBEAT_FILE": str(tmp_path / "heartbeat")}
    write_beat(tmp_path / "heartbeat", "old@host", now=time.time() - 120)

    stale = health("--worker", "--json", env=env)
    lenient = health("--worker", "--max-age-s", "600", env=env)

    assert stale.returncode == 1
    assert json.loads(stale.stdout)["alive"] is False
    assert "more than 60 s" in json.loads(stale.stdout)["detail"]
    assert lenient.returncode == 0


def test_a_bad_max_age_is_refused_naming_the_flag(tmp_path):
    done = health("--worker", "--max-age-s", "soon", env={})

    assert done.returncode == 2
    assert "--max-age-s" in done.stderr and "'soon' is not a number" in done.stderr


def test_health_exits_zero_when_database_broker_and_redis_answer_and_one_when_the_database_stops(redis_url):
    with throwaway_postgres() as database_url:
        env = {"DATABASE_URL": database_url, "CELERY_BROKER_URL": redis_url}

        well = health("--json", env=env)
        text = health(env=env)
        name = database_url.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        unwell = health("--json", env=env)

    assert well.returncode == 0, well.stdout + well.stderr
    assert json.loads(well.stdout)["ready"] is True
    assert {c["name"] for c in json.loads(well.stdout)["checks"]} == {"database", "broker", "redis"}
    assert text.returncode == 0 and "database  ok" in text.stdout
    assert unwell.returncode == 1
    checks = {c["name"]: c["ok"] for c in json.loads(unwell.stdout)["checks"]}
    assert checks == {"database": False, "broker": True, "redis": True}


def test_health_exits_one_when_the_broker_does_not_answer(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}", "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}

    done = health(env=env)

    assert done.returncode == 1
    assert "broker    DOWN" in done.stdout
