"""`scenario-worker demo` with SCENARIO_LOG_FORMAT=json: every log line is a JSON object."""

from __future__ import annotations

import json
import os
import subprocess

from tests.harness import ROOT

SCRIPT = str(ROOT / ".venv" / "bin" / "scenario-worker")
REQUIRED = {"time", "level", "logger", "message"}


def parsed_lines(text: str, source: str) -> list[dict]:
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{source} line {number} is not JSON: {line!r}") from None
    return lines


def test_with_the_json_format_every_line_of_a_demo_run_parses_and_a_permanent_400_has_no_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCENARIO_", "DATABASE_URL"))}
    env["CELERY_BROKER_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there: the embedded broker
    env["SCENARIO_LOG_FORMAT"] = "json"
    env["SCENARIO_HEARTBEAT_FILE"] = str(tmp_path / "heartbeat")
    out = tmp_path / "demo"

    run = subprocess.run(
        [SCRIPT, "--log-level", "INFO", "demo", "--out", str(out), "--timeout", "80"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    worker_lines = parsed_lines((out / "worker.log").read_text(), "worker.log")
    command_lines = parsed_lines(run.stderr, "the demo's stderr")
    for line in worker_lines + command_lines:
        assert REQUIRED <= line.keys(), line
    loggers = {line["logger"] for line in worker_lines}
    assert {"celery.apps.worker", "celery.app.trace", "worker.tasks"} <= loggers
    assert any(line["message"].endswith("ready.") for line in worker_lines)

    bad = [line for line in worker_lines if line.get("item") == "potion-of-chaos"]
    dead = [line for line in bad if line.get("outcome") == "dead-lettered"]
    assert len(dead) == 1
    assert dead[0]["level"] == "ERROR"
    assert dead[0]["task_name"] == "scenario.submit_generation"
    assert {"job_id", "batch", "task_id", "attempt"} <= dead[0].keys()
    assert "status=400" in dead[0]["message"]
    assert not [line for line in bad if "traceback" in line]
    assert not [line for line in worker_lines if "Traceback" in line["message"]]

    ours = [line for line in worker_lines if line["logger"] == "worker.tasks"]
    succeeded = [line for line in ours if line.get("outcome") == "succeeded"]
    assert len(succeeded) == 13
    assert all(line.get("scenario_job_id", "").startswith("job_") and line.get("item") for line in succeeded)
    assert "demo-secret" not in (out / "worker.log").read_text() + run.stderr
