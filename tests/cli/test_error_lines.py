"""`scenario-worker` run as a person would, against things that are down, wrong or refusing:
one line on stderr naming what to fix, a non-zero exit, no traceback, no secret, nothing recorded."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ROOT
from worker.db.batches import BatchRepository
from worker.db.jobs import JobRepository
from worker.db.migrate import upgrade
from worker.db.session import Database
from worker.simulator import Simulator, SimulatorConfig

SCRIPT = str(ROOT / ".venv" / "bin" / "scenario-worker")
SECRET = "cli-secret-never-shown-4e1d"
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once
MANIFEST = """\
batch: lanterns
defaults: {model: flux.1-dev, width: 512, height: 512}
items:
  - name: paper-lantern
    prompt: "a paper lantern icon"
  - name: stone-lantern
    prompt: "a stone lantern icon"
"""


@pytest.fixture
def database(tmp_path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    db = Database(url)
    yield db
    db.dispose()


@pytest.fixture
def manifest(tmp_path) -> Path:
    path = tmp_path / "lanterns.yaml"
    path.write_text(MANIFEST)
    return path


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(api_key="sim-key", api_secret="sim-secret", seed=3), port=0) as sim:
        yield sim


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    settings = {
        "DATABASE_URL": f"sqlite:///{cwd / 'jobs.db'}",
        "CELERY_BROKER_URL": "memory://",
        "SCENARIO_API_URL": f"http://{CLOSED}/v1",
        "SCENARIO_API_KEY": "cli-key",
        "SCENARIO_API_SECRET": SECRET,
        "SCENARIO_CONNECT_TIMEOUT_S": "2",
        "SCENARIO_READ_TIMEOUT_S": "3",
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SCENARIO_", "DATABASE_URL", "CELERY_"))}
    return subprocess.run(
        [SCRIPT, *args], env={**clean, **settings, **env}, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def one_line(done: subprocess.CompletedProcess) -> str:
    """The single line on stderr, after checking it is the only one and shows no traceback or secret."""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stderr and "hunter2" not in done.stderr
    return lines[0]


def test_a_bogus_log_level_is_refused_naming_the_flag_and_what_is_allowed(tmp_path):
    done = run("--log-level", "bogus", "jobs", "list", cwd=tmp_path)

    line = one_line(done)
    assert done.returncode == 2
    assert "--log-level" in line and "'bogus'" in line and "DEBUG" in line and "WARNING" in line


@pytest.mark.parametrize(
    "command",
    [["status", "some-job"], ["jobs", "list"], ["dlq", "list"], ["batch", "status", "lanterns"], ["db", "upgrade"]],
)
def test_a_database_that_refuses_connections_is_named_with_its_password_masked(tmp_path, command):
    done = run(*command, cwd=tmp_path, DATABASE_URL=f"postgresql+psycopg://app:hunter2@{CLOSED}/jobs")

    line = one_line(done)
    assert done.returncode == 1
    assert f"DATABASE_URL=postgresql+psycopg://app:***@{CLOSED}/jobs" in line and "refused" in line


@pytest.mark.parametrize("url", ["postgresql://::", "nonsense", "postgresql://app:hunter2@::", "redis://cache/0"])
@pytest.mark.parametrize("command", [["status", "some-job"], ["jobs", "list"], ["db", "upgrade"]])
def test_a_malformed_database_url_is_named_with_what_is_expected(tmp_path, url, command):
    done = run(*command, cwd=tmp_path, DATABASE_URL=url)

    line = one_line(done)
    assert done.returncode == 2
    assert line.startswith("scenario-worker: DATABASE_URL: ") and "sqlite:///" in line


def test_db_upgrade_on_a_sqlite_file_holding_an_apps_jobs_table_names_it_and_changes_nothing(tmp_path):
    app = sqlite3.connect(tmp_path / "jobs.db")
    app.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, title TEXT)")
    app.commit()

    done = run("db", "upgrade", cwd=tmp_path)

    line = one_line(done)
    assert done.returncode == 1
    assert "table jobs already exists" in line and "scenario_alembic_version" in line
    tables = {name for (name,) in app.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    app.close()
    assert tables == {"jobs"}


def test_a_bad_schema_name_is_refused_naming_the_variable(tmp_path):
    done = run("db", "upgrade", cwd=tmp_path, SCENARIO_DB_SCHEMA="my-app")

    line = one_line(done)
    assert done.returncode == 2
    assert "SCENARIO_DB_SCHEMA='my-app'" in line


def test_a_database_without_tables_says_what_is_missing(tmp_path):
    done = run("jobs", "list", cwd=tmp_path)

    line = one_line(done)
    assert done.returncode == 1 and "DATABASE_URL=sqlite:///" in line and "no such table" in line


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "a paper lantern"],
        ["batch", "submit", "lanterns.yaml"],
        ["dlq", "replay", "--all"],
        ["jobs", "recover", "--older-than", "0s"],
    ],
)
def test_a_broker_that_is_down_is_named_and_nothing_is_recorded(tmp_path, database, manifest, command):
    done = run(*command, cwd=tmp_path, CELERY_BROKER_URL=f"redis://:hunter2@{CLOSED}/0")

    line = one_line(done)
    assert done.returncode == 1
    assert f"CELERY_BROKER_URL=redis://:***@{CLOSED}/0" in line and "nothing was queued" in line
    assert JobRepository(database).list(limit=100) == []
    assert BatchRepository(database).find("lanterns") is None


def test_a_dry_run_with_wrong_credentials_names_the_credential_variables(tmp_path, database, manifest, simulator):
    done = run(
        "batch",
        "submit",
        "lanterns.yaml",
        "--dry-run",
        cwd=tmp_path,
        SCENARIO_API_URL=simulator.api_url,
        SCENARIO_API_KEY="sim-key",
        SCENARIO_API_SECRET=SECRET,
    )

    line = one_line(done)
    assert done.returncode == 1
    assert "HTTP 401" in line and "SCENARIO_API_KEY" in line and "SCENARIO_API_SECRET" in line
    assert done.stdout == ""


def test_a_dry_run_with_the_right_credentials_still_prints_the_costs(tmp_path, database, manifest, simulator):
    done = run(
        "batch",
        "submit",
        "lanterns.yaml",
        "--dry-run",
        cwd=tmp_path,
        SCENARIO_API_URL=simulator.api_url,
        SCENARIO_API_KEY="sim-key",
        SCENARIO_API_SECRET="sim-secret",
    )

    assert done.returncode == 0, done.stderr
    assert "paper-lantern" in done.stdout and "nothing queued" in done.stdout


def test_an_unreachable_scenario_is_named_by_its_url(tmp_path, database, manifest):
    done = run("batch", "submit", "lanterns.yaml", "--dry-run", cwd=tmp_path)

    line = one_line(done)
    assert done.returncode == 1
    assert f"SCENARIO_API_URL=http://{CLOSED}/v1" in line and "did not answer" in line
