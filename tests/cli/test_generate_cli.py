"""`scenario-worker generate` and `status`, run as a person would, against the running system."""

from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import ON_POSTGRES
from tests.harness import ROOT

pytestmark = ON_POSTGRES

SCRIPT = str(ROOT / ".venv" / "bin" / "scenario-worker")


def run(system, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args], env={**os.environ, **system.env}, capture_output=True, text=True, timeout=90)


def test_generate_with_wait_prints_the_finished_job_and_status_reads_it_back(system):
    made = run(
        system, "generate", "a paper lantern, from the command line", "--width", "512", "--height", "512", "--wait"
    )

    assert made.returncode == 0, made.stderr
    job_id = made.stdout.splitlines()[0]
    assert "success" in made.stdout and "queued" in made.stdout
    shown = run(system, "status", job_id, "--json")
    assert shown.returncode == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert job["status"] == "success" and job["params"]["width"] == 512
    assert job["status_history"][-1]["status"] == "success" and len(job["asset_ids"]) == 1


def test_a_bad_argument_is_named_and_nothing_is_queued(system):
    before = len(system.jobs.list(limit=100_000))

    bad = run(system, "generate", "a lantern", "--width", "1001")
    unknown = run(system, "status", "no-such-job")

    assert bad.returncode == 2 and "argument --width" in bad.stderr and "multiple of 8" in bad.stderr
    assert unknown.returncode == 1 and "no-such-job" in unknown.stderr
    assert len(system.jobs.list(limit=100_000)) == before


def test_a_bad_setting_names_the_variable(system):
    broken = subprocess.run(
        [SCRIPT, "status", "x"],
        env={**os.environ, **system.env, "SCENARIO_MAX_RETRIES": "lots"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert broken.returncode == 2 and "SCENARIO_MAX_RETRIES" in broken.stderr


def test_any_input_of_any_model_is_given_with_input_and_a_refused_one_is_named(system):
    before = len(system.jobs.list(limit=100_000))
    audio = run(
        system, "generate", "a creaking door", "--model", "model_audio-sfx", "--input", "duration_seconds=3", "--wait"
    )
    refused = run(system, "generate", "a lantern", "--input", "aspect_ratio=5:7")
    malformed = run(system, "generate", "a lantern", "--input", "aspect_ratio")

    assert audio.returncode == 0, audio.stderr
    job = system.jobs.get(audio.stdout.splitlines()[0])
    assert job.params["durationSeconds"] == 3 and job.model_id == "model_audio-sfx"
    assert refused.returncode == 2 and "aspectRatio" in refused.stderr and "flux.1-dev" in refused.stderr
    assert malformed.returncode == 2 and "NAME=VALUE" in malformed.stderr
    assert len(system.jobs.list(limit=100_000)) == before + 1
