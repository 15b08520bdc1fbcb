"""A generation goes through the broker, a worker, the simulator over HTTP and the database."""

from __future__ import annotations

import requests

from tests.conftest import BOTH_BROKERS, KEY, SECRET
from worker import enqueue_generation, get_job
from worker.states import JobStatus

# Both brokers must keep these promises.
pytestmark = BOTH_BROKERS


def scenario_job(system, scenario_job_id: str) -> dict:
    answer = requests.get(f"{system.sim.api_url}/jobs/{scenario_job_id}", auth=(KEY, SECRET), timeout=5)
    answer.raise_for_status()
    return answer.json()["job"]


def test_a_job_goes_from_enqueue_to_success_with_scenarios_whole_status_history(system):
    prompt = "a red fox in the snow, lifecycle"
    job_id = enqueue_generation(prompt, width=512, height=512, num_samples=2)

    job = system.wait_for(job_id)

    assert job.status is JobStatus.SUCCESS
    remote = scenario_job(system, job.scenario_job_id)
    assert job.status_history == remote["statusHistory"]
    assert [step["status"] for step in job.status_history][0] == "queued"
    assert job.status_history[-1]["status"] == "success"
    assert len(job.asset_ids) == 2
    assert job.asset_ids == remote["metadata"]["assetIds"]
    assert job.params["prompt"] == prompt and job.params["width"] == 512
    assert job.finished_at is not None and job.progress == 1
    assert system.sim.stats()["submissions_by_prompt"][prompt] == 1


def test_a_job_can_be_read_back_by_its_id(system):
    job_id = enqueue_generation("a lighthouse at dusk, read back")
    system.wait_for(job_id)

    job = get_job(job_id)

    assert job is not None and job.id == job_id
    assert job.status is JobStatus.SUCCESS
    assert job.scenario_job_id.startswith("job_")


def test_bad_parameters_are_refused_before_anything_is_recorded_or_sent(system):
    before = system.sim.stats()["requests_total"]
    jobs_before = len(system.jobs.list(limit=100_000))
    try:
        enqueue_generation("a castle", width=1001)
    except ValueError as exc:
        assert str(exc).startswith("width:")
    else:
        raise AssertionError("width=1000 was accepted")
    assert len(system.jobs.list(limit=100_000)) == jobs_before
    assert system.sim.stats()["requests_total"] == before


def test_the_api_secret_never_reaches_the_worker_logs_even_at_debug(system):
    import base64

    job = system.wait_for(enqueue_generation("a quiet owl, logged at debug"))

    logs = system.logs()
    assert job.status is JobStatus.SUCCESS
    assert f"job_id={job.id}" in logs  # the logs are really there, at DEBUG
    assert SECRET not in logs
    assert base64.b64encode(f"{KEY}:{SECRET}".encode()).decode() not in logs
