"""`scenario-worker console` refuses to start without credentials, naming what is missing."""

from __future__ import annotations

import os
import subprocess

from tests.console.conftest import SCRIPT
from tests.harness import ROOT

CONSOLE_VARIABLES = ("CONSOLE_ADMIN_USER", "CONSOLE_ADMIN_PASSWORD", "CONSOLE_SECRET_KEY", "CONSOLE_DEV_MODE")


def run_console(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CONSOLE_VARIABLES}
    return subprocess.run(
        [SCRIPT, "console", *args], env={**clean, **env}, capture_output=True, text=True, timeout=30, cwd=ROOT
    )


def test_without_credentials_the_console_does_not_start_even_on_loopback():
    exposed = run_console("--host", "0.0.0.0", "--port", "1")
    dev_but_exposed = run_console("--host", "0.0.0.0", "--port", "1", CONSOLE_DEV_MODE="true")
    loopback = run_console("--host", "127.0.0.1", "--port", "1")

    for done in (exposed, dev_but_exposed, loopback):
        assert done.returncode == 2, done.stderr
        assert "the console needs CONSOLE_ADMIN_USER, CONSOLE_ADMIN_PASSWORD and CONSOLE_SECRET_KEY" in done.stderr
