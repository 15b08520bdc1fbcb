"""The Dockerfile and .dockerignore: a small, non-root image that can migrate."""

from __future__ import annotations

import fnmatch
import re

import pytest

from tests.deploy.files import DOCKERFILE, DOCKERIGNORE, ROOT, Instruction, read_dockerfile


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return read_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final_stage(instructions) -> list[Instruction]:
    last_from = max(i for i, step in enumerate(instructions) if step.keyword == "FROM")
    return instructions[last_from:]


@pytest.fixture(scope="module")
def ignored() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _copies(steps: list[Instruction]) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context."""
    copies = []
    for step in steps:
        if step.keyword != "COPY" or step.arguments.startswith("--from"):
            continue
        *sources, destination = step.arguments.split()
        copies.append((sources, destination))
    return copies


def test_every_stage_starts_from_python_3_11_slim(instructions):
    bases = [step.arguments.split()[0] for step in instructions if step.keyword == "FROM"]
    assert bases and set(bases) == {"python:3.11-slim"}


def test_the_image_runs_as_a_user_other_than_root(final_stage):
    users = [step.arguments for step in final_stage if step.keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}


def test_python_output_is_unbuffered_so_logs_arrive_at_once(final_stage):
    env = " ".join(step.arguments for step in final_stage if step.keyword == "ENV")
    assert re.search(r"\bPYTHONUNBUFFERED=1\b", env)


def test_the_package_is_installed_into_the_image(final_stage):
    runs = " ".join(step.arguments for step in final_stage if step.keyword == "RUN")
    assert re.search(r"pip install [^&]*(\.whl|\s\.(\s|$))", runs)


def test_alembic_ini_and_migrations_sit_in_the_working_directory(final_stage):
    workdirs = [step.arguments for step in final_stage if step.keyword == "WORKDIR"]
    copied = {source for sources, destination in _copies(final_stage) for source in sources}
    assert workdirs
    assert {"alembic.ini", "migrations"} <= copied


def test_the_alembic_command_finds_alembic_ini_and_migrations_in_the_working_directory(final_stage):
    # `scenario-worker db upgrade` runs the migrations the installed package carries;
    # `alembic upgrade head` reads alembic.ini, which points at ./migrations.
    destinations = {source: destination for sources, destination in _copies(final_stage) for source in sources}
    assert destinations["alembic.ini"] in {".", "./"}
    assert destinations["migrations"].rstrip("/") == "./migrations"


def test_the_build_has_its_setup_py_which_maps_the_migrations_into_the_package(final_stage):
    copied = {source for sources, destination in _copies(final_stage) for source in sources}
    assert {"pyproject.toml", "setup.py", "migrations", "worker"} <= copied


@pytest.mark.parametrize("extra", ["postgres", "console", "flower"])
def test_the_image_installs_the_extra_of_each_role_it_plays(instructions, extra):
    runs = " ".join(step.arguments for step in instructions if step.keyword == "RUN")
    assert f"'{extra}'" in runs


def test_no_secret_is_baked_into_the_image(instructions):
    declared = [step.arguments for step in instructions if step.keyword in {"ENV", "ARG"}]
    assert [arg for arg in declared if re.search(r"PASSWORD|SECRET|API_KEY|AUTH", arg)] == []


def test_pip_keeps_no_download_cache_in_the_layers(final_stage):
    env = " ".join(step.arguments for step in final_stage if step.keyword == "ENV")
    runs = [step.arguments for step in final_stage if step.keyword == "RUN" and "pip install" in step.arguments]
    assert "PIP_NO_CACHE_DIR=1" in env or all("--no-cache-dir" in run for run in runs)


def test_every_copied_path_exists_and_is_not_ignored(instructions, ignored):
    for sources, _ in _copies(instructions):
        for source in sources:
            if any(char in source for char in "*?["):
                continue  # a wildcard may match nothing on purpose
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source


@pytest.mark.parametrize("pattern", [".venv", ".git", ".env", "out", "**/*.db", "**/__pycache__", ".pytest_cache"])
def test_the_build_context_leaves_out_local_state(ignored, pattern):
    assert pattern in ignored


def test_the_package_in_the_working_directory_is_compiled_when_the_image_is_built(final_stage):
    # The worker imports it from there, where nothing may write bytecode at run time.
    env = " ".join(step.arguments for step in final_stage if step.keyword == "ENV")
    runs = " ".join(step.arguments for step in final_stage if step.keyword == "RUN")
    assert re.search(r"\bPYTHONDONTWRITEBYTECODE=1\b", env)
    assert re.search(r"python -m compileall -q worker\b", runs)
