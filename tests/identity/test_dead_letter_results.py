"""A dead letter for a job Scenario accepted is not a reason to pay again."""

from __future__ import annotations

from tests.batches.test_batch_runs import write_manifest
from tests.harness import wait_until
from worker import enqueue_generation, runtime
from worker.batches.manifest import load_manifest
from worker.batches.runs import submit_batch
from worker.db.models import DeadLetterReason
from worker.deadletters import replay
from worker.states import JobStatus


def given_up_while_scenario_runs_it(system, job_id: str):
    """The job is dead-lettered (as a poison poll would) after Scenario accepted it; Scenario then finishes it."""
    job = wait_until(lambda: (j := system.jobs.get(job_id)) and j.scenario_job_id and j, 30, "the submit")
    letter = system.jobs.dead_letter(
        job_id,
        reason=DeadLetterReason.POISON,
        task_name="scenario.poll_job",
        payload={},
        error={"status": None, "code": "POISON", "message": "the poll kept killing its worker"},
        attempts=1,
    )
    client = runtime.current().client
    wait_until(lambda: client.get_job(job.scenario_job_id)["status"] == "success", 30, "Scenario to finish it")
    return job, letter


def test_replaying_a_dead_letter_whose_scenario_job_succeeded_takes_its_result_and_pays_nothing(system):
    prompt = "an hourglass given up on too soon"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=2)
    job, letter = given_up_while_scenario_runs_it(system, enqueue_generation(prompt, width=256, height=256))
    assert system.jobs.get(job.id).status is JobStatus.DEAD
    before = system.sim.stats()["jobs_created"]

    result = replay(letter.id)

    assert result.new_job_id is None and result.took_result_job_id == job.id
    taken = system.jobs.get(job.id)
    assert taken.status is JobStatus.SUCCESS and taken.asset_ids
    assert system.sim.stats()["jobs_created"] == before
    assert replay(letter.id).skipped_reason.startswith("already replayed")


def test_resubmitting_a_manifest_takes_the_result_of_a_dead_item_scenario_finished(system, tmp_path):
    prompt = "a compass rose given up on too soon"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=2)
    manifest = load_manifest(write_manifest(tmp_path / "roses.yaml", "roses", 1, prompt=prompt))
    submit_batch(manifest, out_dir=tmp_path / "out")
    (job,) = system.batch_jobs("roses")
    given_up_while_scenario_runs_it(system, job.id)
    before = system.sim.stats()["jobs_created"]

    again = submit_batch(manifest, out_dir=tmp_path / "out")

    assert again.took_result == ["item-000"] and again.done == ["item-000"]
    assert not again.queued and not again.requeued
    assert system.sim.stats()["jobs_created"] == before
    assert system.jobs.get(job.id).status is JobStatus.SUCCESS
    wait_until(lambda: (tmp_path / "out" / "item-000.png").exists(), 30, "its image to be downloaded")


def test_a_dead_item_whose_scenario_job_was_canceled_is_submitted_again(system, tmp_path):
    prompt = "a cracked mirror given up on, then canceled"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=30)
    manifest = load_manifest(write_manifest(tmp_path / "mirrors.yaml", "mirrors", 1, prompt=prompt))
    submit_batch(manifest)
    (job,) = system.batch_jobs("mirrors")
    job = wait_until(lambda: (j := system.jobs.get(job.id)) and j.scenario_job_id and j, 30, "the submit")
    error = {"status": None, "code": "POISON", "message": "the poll kept killing its worker"}
    system.jobs.dead_letter(job.id, reason="poison", task_name="scenario.poll_job", payload={}, error=error, attempts=1)
    runtime.current().client.cancel_job(job.scenario_job_id)
    system.sim.faults.clear()
    before = system.sim.stats()["jobs_created"]

    again = submit_batch(manifest)
    current = runtime.current().batches.current_jobs(system.batches_named("mirrors").id)["item-000"]

    assert again.requeued == ["item-000"]
    assert current.id != job.id
    assert system.wait_for(current.id, timeout_s=30).status is JobStatus.SUCCESS
    assert system.sim.stats()["jobs_created"] == before + 1


def test_a_replayed_batch_item_becomes_the_items_job_and_the_batch_still_lists_it_once(system, tmp_path):
    prompt = "a rusty key refused once"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=400, times=1)
    manifest = load_manifest(write_manifest(tmp_path / "keys.yaml", "rusty-keys", 1, prompt=prompt))
    submit_batch(manifest)
    (job,) = system.batch_jobs("rusty-keys")
    system.wait_for(job.id)
    letter = wait_until(lambda: system.dead_letters.get_for_job(job.id), 10, "its dead letter")

    result = replay(letter.id)
    replayed = system.wait_for(result.new_job_id)
    current = runtime.current().batches.current_jobs(system.batches_named("rusty-keys").id)

    assert replayed.status is JobStatus.SUCCESS
    assert list(current) == ["item-000"] and current["item-000"].id == result.new_job_id
    assert submit_batch(manifest).done == ["item-000"]
