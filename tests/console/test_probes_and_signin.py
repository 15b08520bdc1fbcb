"""The console served by gunicorn: open probes, readiness that follows the database, limited sign-in."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis
import requests

from tests.harness import ROOT, free_port, wait_until
from tests.services import PG_ADMIN_URL, port_open, throwaway_postgres
from worker.db.migrate import upgrade

BIN = ROOT / ".venv" / "bin"
ADMIN = ("ada", "admin-pass-3f9a")
# PostgreSQL trusts local connections and ignores it; it must never show in an answer.
DB_PASSWORD = "db-pass-never-shown"
CONSOLE_ENV = {
    "CONSOLE_ADMIN_USER": ADMIN[0],
    "CONSOLE_ADMIN_PASSWORD": ADMIN[1],
    "CONSOLE_SECRET_KEY": "console-test-secret-key-0123456789abcdef",
    "CONSOLE_SIGNIN_MAX_FAILURES": "3",
    "CONSOLE_SIGNIN_WINDOW_S": "60",
}


@contextmanager
def served(command: list[str], env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    """A console server process until the block ends; yields its base URL once it answers."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCENARIO_", "CONSOLE_", "DATABASE_URL"))}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, env={**base, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: proc.poll() is not None or _answers(url),
            60,
            "the console to answer",
            every_s=0.3,
            on_timeout=log_path.read_text,
        )
        assert proc.poll() is None, log_path.read_text()
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def _answers(url: str) -> bool:
    if not port_open("127.0.0.1", int(url.rsplit(":", 1)[1])):
        return False
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_healthz_and_readyz_answer_without_signing_in_and_readyz_turns_unready_when_the_database_stops(
    redis_url, tmp_path
):
    port = free_port()
    with throwaway_postgres() as database_url:
        with_password = database_url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)
        env = {**CONSOLE_ENV, "DATABASE_URL": with_password, "CELERY_BROKER_URL": redis_url}
        # gunicorn started directly on the WSGI module, as a deployment may do.
        command = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        command += ["--no-control-socket", "worker.console.wsgi:application"]
        with served(command, env, port, tmp_path / "console.log") as url:
            alive = requests.get(f"{url}/healthz", timeout=10, allow_redirects=False)
            ready = requests.get(f"{url}/readyz", timeout=10, allow_redirects=False)

            assert alive.status_code == 200 and alive.json() == {"alive": True}
            assert ready.status_code == 200, ready.text
            assert ready.json()["ready"] is True
            assert {c["name"]: c["ok"] for c in ready.json()["checks"]} == {
                "database": True,
                "broker": True,
                "redis": True,
            }
            assert DB_PASSWORD not in ready.text
            assert requests.get(f"{url}/batches", timeout=10, allow_redirects=False).status_code == 302

            drop_database(database_url)
            unready = requests.get(f"{url}/readyz", timeout=10)

            assert unready.status_code == 503, unready.text
            checks = {c["name"]: c for c in unready.json()["checks"]}
            assert unready.json()["ready"] is False
            assert checks["database"]["ok"] is False
            assert checks["broker"]["ok"] is True and checks["redis"]["ok"] is True
            assert DB_PASSWORD not in unready.text
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200


@pytest.fixture
def console_url(redis_url, tmp_path) -> Iterator[str]:
    """`scenario-worker console` (gunicorn, two workers) over a throwaway database and the run's Redis."""
    port = free_port()
    shared = redis.Redis.from_url(redis_url)
    with throwaway_postgres() as database_url:
        upgrade(database_url)
        env = {**CONSOLE_ENV, "DATABASE_URL": database_url, "CELERY_BROKER_URL": redis_url}
        command = [str(BIN / "scenario-worker"), "console", "--host", "127.0.0.1", "--port", str(port)]
        try:
            with served(command, env, port, tmp_path / "console.log") as url:
                yield url
        finally:
            # The failures counted for 127.0.0.1 must not refuse the other console tests of this run.
            for key in shared.scan_iter("scenario:console:signin-failures:*"):
                shared.delete(key)
            shared.close()


def sign_in(session: requests.Session, url: str, user: str, password: str) -> requests.Response:
    page = session.get(f"{url}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    form = {"csrf_token": token[1], "user": user, "password": password}
    return session.post(f"{url}/login", data=form, timeout=10, allow_redirects=False)


def test_after_three_wrong_passwords_the_next_sign_in_gets_429_with_retry_after_even_with_the_right_one(console_url):
    session = requests.Session()

    wrong = [sign_in(session, console_url, ADMIN[0], f"guess-{n}").status_code for n in range(3)]
    limited = sign_in(session, console_url, ADMIN[0], ADMIN[1])

    assert wrong == [401, 401, 401]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "too many failed sign-ins" in limited.text
    assert session.get(f"{console_url}/batches", timeout=10, allow_redirects=False).status_code == 302


def test_a_right_password_signs_in_while_under_the_limit(console_url):
    session = requests.Session()

    assert sign_in(session, console_url, ADMIN[0], "one-wrong-guess").status_code == 401
    signed_in = sign_in(session, console_url, ADMIN[0], ADMIN[1])

    assert signed_in.status_code == 302
    assert session.get(f"{console_url}/batches", timeout=10, allow_redirects=False).status_code == 200


def test_scenario_worker_console_serves_with_gunicorn_logging_json_and_with_werkzeug_only_in_development_mode(
    redis_url, tmp_path
):
    database_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    answers = {}
    production = {**CONSOLE_ENV, "SCENARIO_LOG_FORMAT": "json"}
    for mode, extra in (("production", production), ("development", {"CONSOLE_DEV_MODE": "true"})):
        port = free_port()
        env = {**extra, "DATABASE_URL": database_url, "CELERY_BROKER_URL": redis_url}
        command = [str(BIN / "scenario-worker"), "console", "--host", "127.0.0.1", "--port", str(port)]
        with served(command, env, port, tmp_path / f"{mode}.log") as url:
            answers[mode] = requests.get(f"{url}/healthz", timeout=10).headers["Server"]

    assert answers["production"] == "gunicorn"
    # gunicorn's own lines, its access log among them, follow SCENARIO_LOG_FORMAT.
    lines = [json.loads(line) for line in (tmp_path / "production.log").read_text().splitlines() if line.strip()]
    assert {"gunicorn.error", "gunicorn.access"} <= {line["logger"] for line in lines}
    assert answers["development"].startswith("Werkzeug/")
    assert "development mode: sign in as dev / " in (tmp_path / "development.log").read_text()
