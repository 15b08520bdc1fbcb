"""A running system with the console served beside it, and a headless Debian chromium to drive it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import KEY, SECRET
from tests.harness import ROOT, System, end_process, free_port, running_system, wait_until
from tests.services import port_open, throwaway_postgres
from worker.simulator import SimulatorConfig

SCRIPT = str(ROOT / ".venv" / "bin" / "scenario-worker")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN = ("ada", "admin-pass-3f9a")
VIEWER = ("vic", "viewer-pass-71c2")
FLOWER_URL = "http://flower.invalid:5555"
VIEWPORT = {"width": 1200, "height": 800}


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


# One module uses it: Playwright stops with that module, so no event loop outlives it in this process.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        reason = "no chromium: install Debian's chromium (apt-get install chromium) to run the console's browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)  # CI installs it; a skip there would hide a broken console
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Console:
    url: str
    system: System
    out_dir: Path


@contextmanager
def serving_console(system: System, workdir: Path, log_name: str = "console.log", **env: str) -> Iterator[str]:
    """`scenario-worker console` for this system on a free port, with these logins; its URL."""
    port = free_port()
    full_env = {
        **os.environ,
        **system.env,
        "CONSOLE_ADMIN_USER": ADMIN[0],
        "CONSOLE_ADMIN_PASSWORD": ADMIN[1],
        "CONSOLE_VIEWER_USER": VIEWER[0],
        "CONSOLE_VIEWER_PASSWORD": VIEWER[1],
        "CONSOLE_SECRET_KEY": "console-test-secret-key-0123456789abcdef",
        "CONSOLE_FLOWER_URL": FLOWER_URL,
        **env,
    }
    log_path = workdir / log_name
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [SCRIPT, "console", "--host", "127.0.0.1", "--port", str(port)],
            env=full_env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(
                lambda: proc.poll() is not None or port_open("127.0.0.1", port),
                20,
                "the console to listen",
                on_timeout=log_path.read_text,
            )
            assert proc.poll() is None, log_path.read_text()
            yield f"http://127.0.0.1:{port}"
        finally:
            end_process(proc)


@pytest.fixture(scope="module")
def console(redis_url, tmp_path_factory) -> Iterator[Console]:
    """PostgreSQL, the simulator, one worker, and `scenario-worker console` on a free port."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=0.5, seed=5)
    workdir = tmp_path_factory.mktemp("console")
    with (
        throwaway_postgres() as database_url,
        running_system(database_url=database_url, broker_url=redis_url, workdir=workdir, sim_config=config) as system,
        serving_console(system, workdir) as url,
    ):
        yield Console(url, system, workdir / "out")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, console: Console, login: tuple[str, str]) -> None:
    page.goto(f"{console.url}/login")
    page.fill("input[name=user]", login[0])
    page.fill("input[name=password]", login[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{console.url}/batches")


@pytest.fixture(autouse=True)
def _clean_console_faults(request):
    yield
    if "console" in request.fixturenames:
        request.getfixturevalue("console").system.sim.faults.clear()
