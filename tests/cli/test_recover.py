"""`scenario-worker jobs recover`: a job whose message was lost is brought back, and paid for once."""

from __future__ import annotations

import os
import subprocess

from tests.harness import ROOT
from worker.generation import GenerationRequest
from worker.states import JobStatus

SCRIPT = str(ROOT / ".venv" / "bin" / "scenario-worker")


def run(system, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args], env={**os.environ, **system.env}, capture_output=True, text=True, timeout=60)


def test_a_job_recorded_but_never_queued_is_recovered_and_submitted_once(system):
    prompt = "a lost scroll, recorded before its worker crashed"
    # No worker runs meanwhile: its own periodic recovery would otherwise find the row first.
    system.stop()
    # What a crash between recording the job and queueing its task leaves behind.
    lost = system.jobs.create(
        model_id="flux.1-dev", params=GenerationRequest(prompt=prompt, width=256, height=256).to_params()
    )

    looked = run(system, "jobs", "recover", "--older-than", "0m", "--dry-run")
    assert looked.returncode == 0, looked.stderr
    assert f"{lost.id}  created  submit would send again" in looked.stdout
    assert system.jobs.get(lost.id).status is JobStatus.CREATED

    sent = run(system, "jobs", "recover", "--older-than", "0m")
    sent_again = run(system, "jobs", "recover", "--older-than", "0m")  # a second, needless recovery is harmless

    assert sent.returncode == 0 and sent_again.returncode == 0
    system.start_worker(name="after-recover")
    job = system.wait_for(lost.id)
    assert job.status is JobStatus.SUCCESS
    assert system.sim.stats()["submissions_by_prompt"][prompt] == 1


def test_a_bad_duration_is_named(system):
    bad = run(system, "jobs", "recover", "--older-than", "soon")
    assert bad.returncode == 2 and "--older-than" in bad.stderr
