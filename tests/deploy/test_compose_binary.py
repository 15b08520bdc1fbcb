"""The compose file as a real Compose binary reads it (offline: `config` starts nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.deploy.files import ENV_EXAMPLE, ROOT


def _compose_command() -> list[str] | None:
    """`docker compose` when the plugin is there, else `docker-compose`, else None."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


COMPOSE = _compose_command()

pytestmark = pytest.mark.skipif(COMPOSE is None, reason="no docker compose or docker-compose on PATH")


def _config(*args: str, env_file: str) -> subprocess.CompletedProcess[str]:
    # A bare environment, so that variables of the shell running the tests cannot
    # stand in for the ones the env file must provide.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    assert COMPOSE is not None
    return subprocess.run(
        [*COMPOSE, "--env-file", env_file, *args, "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("profile", [[], ["--profile", "dev"]], ids=["default", "dev"])
def test_compose_accepts_the_file_with_the_example_env(profile):
    result = _config(*profile, env_file=str(ENV_EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "change-me" in result.stdout


def test_compose_refuses_to_start_without_the_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _config(env_file=str(empty))
    assert result.returncode != 0
    assert "set it in .env" in result.stderr
