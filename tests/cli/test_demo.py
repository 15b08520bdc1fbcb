"""`scenario-worker demo`, as a newcomer runs it, here without Redis (the embedded broker)."""

from __future__ import annotations

import json
import os
import re
import subprocess

from tests.harness import ROOT

SCRIPT = str(ROOT / ".venv" / "bin" / "scenario-worker")


def test_the_demo_runs_the_example_library_on_an_embedded_broker_and_exits_zero(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCENARIO_", "DATABASE_URL"))}
    env["CELERY_BROKER_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    out = tmp_path / "demo"

    run = subprocess.run(
        [SCRIPT, "demo", "--out", str(out), "--timeout", "80"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "using the embedded broker" in run.stdout
    assert "Summary of game-icons-" in run.stdout
    assert "potion-of-chaos: permanent_error, HTTP 400" in run.stdout
    assert "taking Scenario's webhooks as hints" in run.stdout
    assert re.search(r"webhooks: +([1-9]\d*) hints delivered", run.stdout), run.stdout
    index = json.loads((out / "index.json").read_text())
    assert len(index["items"]) == 13
    assert len(list(out.glob("*.png"))) == sum(len(item["files"]) for item in index["items"])
