"""`scenario-worker jobs list` and `scenario-worker cancel` run as the console script against the running system."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import requests

from tests.cli.test_dlq_cli import run, run_side_by_side
from tests.conftest import KEY, ON_POSTGRES, SECRET
from tests.deadletters.letters import letters_for, new_batch, quick, refused_once, submissions, unique
from tests.harness import wait_until
from worker import enqueue_generation
from worker.db.jobs import StoredOptions
from worker.states import JobStatus

pytestmark = ON_POSTGRES

RUNNING = {JobStatus.QUEUED, JobStatus.WARMING_UP, JobStatus.IN_PROGRESS}


def scenario_status(system, scenario_job_id: str) -> str:
    answer = requests.get(f"{system.sim.api_url}/jobs/{scenario_job_id}", auth=(KEY, SECRET), timeout=5)
    answer.raise_for_status()
    return answer.json()["job"]["status"]


def test_an_unknown_status_is_refused_listing_the_valid_ones():
    done = run("jobs", "list", "--status", "stuck")

    assert done.returncode == 2
    assert "argument --status: invalid choice: 'stuck' (choose from 'created', 'pending', 'queued'" in done.stderr


def test_jobs_list_filters_by_status_and_batch(system):
    batch_id = new_batch(items=2)
    # Not due for a day: the workers' recovery, which sends any row left without a message for a few
    # seconds, cannot make these rows run while a loaded machine starts the commands below.
    later = StoredOptions(not_before=datetime.now(timezone.utc) + timedelta(days=1))
    in_batch = {
        system.jobs.create(model_id="flux.1-dev", params={"prompt": "a"}, batch_id=batch_id, options=later).id
        for _ in "ab"
    }
    succeeded = enqueue_generation(quick(system, unique("a green field")))
    (dead,) = letters_for(system, refused_once(system, unique("a torn map")))
    system.wait_for(succeeded)

    by_batch, dead_table, one_success = run_side_by_side(
        ("jobs", "list", "--batch", batch_id, "--json"),
        ("jobs", "list", "--status", "dead"),
        ("jobs", "list", "--status", "success", "--limit", "1", "--json"),
        env=system.env,
    )

    assert by_batch.returncode == 0, by_batch.stderr
    listed = json.loads(by_batch.stdout)
    assert {job["id"] for job in listed} == in_batch
    assert {(job["batch_id"], job["status"]) for job in listed} == {(batch_id, "created")}
    header, *rows, total = dead_table.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATUS", "CREATED"] and "CU" in header.split()
    assert total.startswith(f"{len(rows)} jobs, ") and total.endswith("creative units spent")
    assert dead.job_id in {row.split()[0] for row in rows} and succeeded not in dead_table.stdout
    assert {row.split()[1] for row in rows} == {"dead"}
    assert [job["status"] for job in json.loads(one_success.stdout)] == ["success"]


def test_cancel_stops_a_running_job_on_scenario_and_records_it_canceled(system):
    prompt = unique("a glacier, very slow")
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=30)
    running = system.wait_for(enqueue_generation(prompt), statuses=RUNNING)

    done = run("cancel", running.id, env=system.env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"job {running.id}: canceled on Scenario (Scenario job {running.scenario_job_id})"
    assert scenario_status(system, running.scenario_job_id) == "canceled"
    job = system.jobs.get(running.id)
    assert job.status is JobStatus.CANCELED and job.finished_at is not None
    assert job.status_history[-1]["status"] == "canceled"

    again = run("cancel", running.id, env=system.env)

    assert again.returncode == 1
    assert f"job {running.id} is already canceled; nothing to cancel" in again.stderr


def test_a_job_canceled_before_it_reached_scenario_is_never_submitted(system):
    from worker.tasks import submit_generation

    prompt = unique("a letter never sent")
    job = system.jobs.create(model_id="flux.1-dev", params={"modelId": "flux.1-dev", "prompt": prompt})

    done = run("cancel", job.id, env=system.env)
    task_id = submit_generation.apply_async((job.id,)).id  # as if it had been queued all along

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"job {job.id}: canceled before anything was sent; nothing was charged"
    wait_until(lambda: f"[{task_id}] succeeded" in system.logs(), 15, "the submit task to finish")
    after = system.jobs.get(job.id)
    assert (after.status, after.attempts, after.scenario_job_id) == (JobStatus.CANCELED, 0, None)
    assert submissions(system, prompt) == 0


def test_cancel_of_an_unknown_job_says_so_and_exits_1(system):
    done = run("cancel", "no-such-job", env=system.env)

    assert (done.returncode, done.stdout) == (1, "")
    assert "no job with id 'no-such-job'" in done.stderr


def test_jobs_list_takes_a_batch_by_its_name_as_by_its_id_and_names_an_unknown_one(system):
    batch_id = new_batch(items=1)
    name = system.batches_named(batch_id).name
    job = system.jobs.create(model_id="flux.1-dev", params={"prompt": "a"}, batch_id=batch_id)

    by_name, unknown = run_side_by_side(
        ("jobs", "list", "--batch", name, "--json"), ("jobs", "list", "--batch", "no-such-library"), env=system.env
    )

    assert [row["id"] for row in json.loads(by_name.stdout)] == [job.id]
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "scenario-worker: no batch named or with id 'no-such-library'"


def test_the_version_is_printed():
    done = run("--version")

    assert done.returncode == 0 and done.stdout.strip() == "scenario-worker 0.1.0"
