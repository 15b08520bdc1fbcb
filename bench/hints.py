"""Scenario's webhooks on, for the plan section: the simulator sends each job's end to a console
started beside the stack, which wakes one look at the job, so its plan slot is given back at once.

Kept apart from bench/plan.py's measure: `plan_share(..., with_webhooks=True)` runs the same
library and singles with this on, and `rows` compares it with the run without in the same table.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.stack import ROOT, Stack, _wait, free_port

WEBHOOK_GOAL = 1.05


@contextmanager
def webhooks_on(st: Stack, on: bool = True) -> Iterator[None]:
    """`scenario-worker console` (gunicorn) on the stack's database and broker, registered with the
    simulator as the team's webhook endpoint; nothing at all when `on` is False."""
    if not on:
        yield
        return
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    port = free_port()
    env = {
        **os.environ,
        **st.env,
        "SCENARIO_WEBHOOK_SECRET": secret,
        "CONSOLE_ADMIN_USER": "bench",
        "CONSOLE_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "CONSOLE_SECRET_KEY": secrets.token_urlsafe(32),
    }
    log_path = st.workdir / "console.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "scenario-worker"), "console", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # Its probe answering means a gunicorn worker has booted: the measure starts after the
        # console's start-up, not while it still takes the CPU.
        _wait(lambda: proc.poll() is not None or _healthy(port), 60, "the console to answer /healthz")
        if proc.poll() is not None:
            raise RuntimeError(f"the console exited:\n{log_path.read_text(errors='replace')[-3000:]}")
        st.sim.add_webhook(f"http://127.0.0.1:{port}/hooks/scenario", secret)  # type: ignore[attr-defined]
        yield
    finally:
        proc.terminate()
        proc.wait(10)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def rows(off: dict[str, Any], on: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The run with webhooks on, against its floor and against the run without them."""
    hooks = on.get("webhooks", {})
    return [
        (
            f"makespan with webhooks on (the simulator's hints to a console), same library and singles "
            f"({on['succeeded']} succeeded)",
            f"{on['makespan_s'] / on['floor_s']:.2f}x ({on['makespan_s']:.1f} s against {on['floor_s']:.1f} s; "
            f"{on['makespan_s'] / off['makespan_s']:.2f}x the run without)",
            f"<= {WEBHOOK_GOAL:g}x",
        ),
        (
            "Scenario requests per job with webhooks on (by endpoint); hints delivered",
            f"{on['requests_per_job']:.2f} ({_by_endpoint(on)}; without: {_by_endpoint(off)}); "
            f"{hooks.get('delivered', 0)} of {on['library'] + on['singles']} jobs",
            "",
        ),
    ]


def _by_endpoint(figures: dict[str, Any]) -> str:
    counts = figures.get("requests_by_endpoint", {})
    return ", ".join(f"{name} {counts[name]}" for name in ("submit", "get_job", "list_jobs") if counts.get(name))
