"""In a fresh venv outside the checkout, the built wheel installs, `db upgrade` succeeds on a fresh
database and on an application's database (its own alembic_version and jobs left untouched), and a
job enqueued from the installed package reaches success through a worker running from that venv."""

from __future__ import annotations

import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.harness import running_system
from tests.package.install import ROOT, FreshVenv, build_wheel, run, wheelhouse
from tests.services import throwaway_postgres
from worker.cli.localstack import WorkerProcess
from worker.db.models import Base
from worker.db.placement import VERSION_TABLE
from worker.simulator import SimulatorConfig
from worker.states import JobStatus

pytestmark = pytest.mark.timeout(600)

# Every table the models declare (the schema check holds the migrations to the same).
OURS = set(Base.metadata.tables)
KEY, SECRET = "package-key", "package-secret-do-not-log-41c7"


@dataclass
class Installed:
    wheel: Path
    venv: FreshVenv
    # A folder of nothing but the test's own files: commands run here, far from the checkout.
    elsewhere: Path
    # What the base install (no extras) answered to commands that need an extra, by extra.
    without_extra: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)

    def command(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.venv.bin("scenario-worker")), *args],
            cwd=self.elsewhere,
            env=self.venv.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def upgrade(self, database_url: str) -> str:
        done = self.command("db", "upgrade", DATABASE_URL=database_url)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    folder = tmp_path_factory.mktemp("package")
    wheel = build_wheel(folder)
    house = wheelhouse(wheel, "postgres")
    elsewhere = folder / "elsewhere"
    elsewhere.mkdir()
    venv = FreshVenv.create(folder / "venv")
    venv.install(str(wheel), house)
    installed = Installed(wheel, venv, elsewhere)
    # Asked before the postgres extra goes in: afterwards its driver is there.
    installed.without_extra["console"] = installed.command("console", "--port", "1")
    installed.without_extra["postgres"] = installed.command(
        "db", "upgrade", DATABASE_URL="postgresql+psycopg://app:pw@127.0.0.1:1/app"
    )
    venv.install(f"{wheel}[postgres]", house)
    return installed


def test_the_wheel_carries_every_migration_of_the_checkout_inside_the_package(installed):
    with zipfile.ZipFile(installed.wheel) as archive:
        names = set(archive.namelist())
    revisions = {f"worker/migrations/versions/{p.name}" for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert revisions and revisions <= names
    assert {"worker/migrations/env.py", "worker/migrations/script.py.mako"} <= names
    assert not any(name.startswith(("migrations/", "tests/")) for name in names)


def test_the_installed_package_is_the_one_imported_not_the_checkout(installed):
    code = "import worker; print(worker.__file__)"
    done = run([installed.venv.python, "-c", code], cwd=installed.elsewhere, env=installed.venv.env())
    assert Path(done.stdout.strip()).is_relative_to(installed.venv.path)


def test_the_base_install_names_the_extra_a_command_needs(installed):
    console, postgres = installed.without_extra["console"], installed.without_extra["postgres"]

    assert console.returncode != 0
    assert "pip install 'scenario-worker[console]'" in console.stderr
    assert postgres.returncode != 0
    assert "pip install 'scenario-worker[postgres]'" in postgres.stderr
    assert "pw@" not in postgres.stderr


def test_db_upgrade_from_any_folder_builds_a_fresh_sqlite_database(installed, tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"

    installed.upgrade(url)

    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == OURS | {VERSION_TABLE}
    engine.dispose()


def test_db_upgrade_builds_a_fresh_postgresql_database_in_its_schema(installed, postgres_url):
    said = installed.upgrade(postgres_url)

    assert "schema scenario" in said
    engine = create_engine(postgres_url)
    inspector = inspect(engine)
    assert set(inspector.get_table_names(schema="scenario")) == OURS | {VERSION_TABLE}
    assert inspector.get_table_names() == []
    engine.dispose()


def test_db_upgrade_leaves_an_apps_alembic_version_and_jobs_table_untouched(installed, postgres_url):
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('9f3e21aa')"))
        conn.execute(text("CREATE TABLE jobs (id SERIAL PRIMARY KEY, title TEXT NOT NULL)"))
        conn.execute(text("INSERT INTO jobs (title) VALUES ('plumber'), ('baker')"))

    installed.upgrade(postgres_url)

    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["9f3e21aa"]
        assert conn.execute(text("SELECT id, title FROM jobs ORDER BY id")).all() == [(1, "plumber"), (2, "baker")]
        columns = [c["name"] for c in inspect(conn).get_columns("jobs")]
        ours = set(inspect(conn).get_table_names(schema="scenario"))
    engine.dispose()
    assert columns == ["id", "title"]
    assert ours == OURS | {VERSION_TABLE}


@pytest.fixture
def database_for_the_system(installed) -> Iterator[str]:
    with throwaway_postgres() as url:
        installed.upgrade(url)
        yield url


def test_a_job_enqueued_from_the_installed_package_reaches_success(
    installed, database_for_the_system, redis_url, tmp_path
):
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=0.5, seed=11)
    with running_system(
        database_url=database_for_the_system, broker_url=redis_url, workdir=tmp_path, sim_config=config, workers=()
    ) as system:
        worker = WorkerProcess(
            installed.venv.env(**system.env),
            tmp_path / "installed-worker.log",
            concurrency=1,
            name="installed",
            python=str(installed.venv.python),
            cwd=installed.elsewhere,
        )
        system.workers.append(worker.start())
        enqueue = (
            "from worker import enqueue_generation\n"
            "print(enqueue_generation('a red fox icon', model_id='flux.1-dev', width=512, height=512))\n"
        )
        done = run(
            [installed.venv.python, "-c", enqueue], cwd=installed.elsewhere, env=installed.venv.env(**system.env)
        )
        job_id = done.stdout.strip().splitlines()[-1]

        job = system.wait_for(job_id, timeout_s=60)

        assert job.status is JobStatus.SUCCESS, job
        assert job.scenario_job_id and job.asset_ids
        status = installed.command("status", job_id, "--json", **system.env)
        assert status.returncode == 0, status.stderr
        assert '"success"' in status.stdout
