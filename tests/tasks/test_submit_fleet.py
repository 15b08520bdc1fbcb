"""The submit path raced by whole systems: a worker, the simulator over HTTP, a database, on Redis
and on RabbitMQ without any Redis; each test counts the Scenario jobs made and reads the rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.harness import System, wait_until
from tests.tasks.conftest import made_on_scenario, sent_and_lost, status_on_scenario, unsent_job
from worker import cancel_job, enqueue_generation
from worker.batches.manifest import parse_manifest
from worker.batches.runs import batch_progress, cancel_batch, submit_batch
from worker.cancellation import CancelOutcome
from worker.states import JobStatus


@pytest.fixture
def worker(racing) -> Iterator[System]:
    racing.start_worker(name="racer", concurrency=2)
    yield racing
    racing.stop()


def test_forty_jobs_canceled_right_after_enqueue_say_truthfully_what_scenario_holds(worker):
    prompt = "a hasty cancel"
    worker.sim.faults.add_rule(endpoint="submit", action="slow", delay_s=0.3, prompt_contains=prompt)
    results = {}
    for n in range(40):
        job_id = enqueue_generation(f"{prompt} #{n}", width=256, height=256)
        time.sleep((n % 7) * 0.05)  # 0 to 300 ms after its enqueue
        results[job_id] = cancel_job(job_id, wait_s=15)
    for job_id in results:
        worker.wait_for(job_id, timeout_s=30)

    jobs = {job.id: job for job in worker.jobs.get_many(results)}
    made = {r.job_id: r for r in worker.sim.world.jobs() if str(r.input.get("prompt")).startswith(prompt)}
    held = {job.scenario_job_id: job for job in jobs.values() if job.scenario_job_id}
    outcomes = sorted(result.outcome.value for result in results.values())
    print(f"\n40 cancels: {dict((o, outcomes.count(o)) for o in set(outcomes))}, Scenario jobs made {len(made)}")
    assert set(made) <= set(held)  # every Scenario job made is held by its row
    for scenario_job_id, record in made.items():
        job = held[scenario_job_id]
        on_scenario = status_on_scenario(record)
        assert on_scenario in ("canceled", "success")
        assert job.status.value == on_scenario  # the row agrees with Scenario
    for job_id, result in results.items():
        if result.outcome is CancelOutcome.CANCELED_LOCALLY:
            assert jobs[job_id].scenario_job_id is None and jobs[job_id].attempts == 0
        assert result.outcome is not CancelOutcome.REQUESTED  # each settled within its wait
    assert sum(1 for job in jobs.values() if job.status is JobStatus.CANCELED) >= 30
    assert all(worker.dead_letters.get_for_job(job_id) is None for job_id in results)  # asked for, not given up on


def test_submits_answered_after_the_read_timeout_make_one_scenario_job_each(worker):
    prompt = "a late answer"
    # Scenario makes each job 4 s after the request came, a second after the client gave up.
    worker.sim.faults.add_rule(endpoint="submit", action="slow", delay_s=4.0, prompt_contains=prompt, times=6)
    ids = [enqueue_generation(f"{prompt} #{n}", width=256, height=256) for n in range(6)]

    jobs = [worker.wait_for(job_id, timeout_s=60) for job_id in ids]

    stats = worker.sim.stats()
    made = [r for r in worker.sim.world.jobs() if str(r.input.get("prompt")).startswith(prompt)]
    submits = sum(stats["submissions_by_prompt"].get(f"{prompt} #{n}", 0) for n in range(6))
    print(f"\n6 late answers: {submits} submits reached Scenario, {len(made)} jobs made")
    assert [job.status for job in jobs] == [JobStatus.SUCCESS] * 6
    assert len(made) == 6
    assert sorted(job.scenario_job_id for job in jobs) == sorted(r.job_id for r in made)


def test_the_recovery_reconciles_on_its_own_and_a_lost_answer_is_adopted_before_anything_is_paid_again(racing):
    prompt = "an orphan the fleet finds by itself"
    job_id = unsent_job(prompt)
    sent_and_lost(job_id)  # its sender died with the answer, and its message with it
    reconciler = racing.start_worker(
        name="reconciler",
        SCENARIO_RECOVERY_INTERVAL_S="1",
        # The first recovery run reconciles, looking a minute back, however long the worker took to start;
        # the lost answer's own search waits past the test's end, so only the reconciliation can adopt it.
        SCENARIO_RECONCILE_INTERVAL_S="20",
        SCENARIO_LATE_SUBMIT_S="120",
    )
    try:
        done = racing.wait_for(job_id, timeout_s=60)
    finally:
        racing.stop()

    assert done.status is JobStatus.SUCCESS
    assert [r.job_id for r in made_on_scenario(racing, prompt)] == [done.scenario_job_id]
    assert "reconciled 1 orphaned Scenario jobs: 1 adopted, 0 canceled" in reconciler.log_path.read_text()


def test_a_300_item_batch_canceled_while_its_items_are_being_submitted_agrees_with_scenario(worker, tmp_path):
    prompt = "a crate canceled in flight"
    worker.sim.faults.add_rule(endpoint="submit", action="slow", delay_s=0.05, prompt_contains=prompt)
    worker.sim.faults.job_duration(prompt_contains=prompt, seconds=5)
    items = "".join(f"  - name: crate-{n:03d}\n    prompt: {prompt} {n}\n" for n in range(300))
    name = f"in-flight-{uuid.uuid4().hex[:8]}"
    manifest = parse_manifest(f"batch: {name}\ndefaults:\n  width: 256\n  height: 256\nitems:\n{items}", kind="yaml")
    submit_batch(manifest)
    wait_until(lambda: sum(1 for j in worker.batch_jobs(name) if j.scenario_job_id) >= 30, 60, "30 items to be sent")

    report = cancel_batch(name)
    wait_until(lambda: all(j.is_final for j in worker.batch_jobs(name)), 60, "every item to end")

    jobs = worker.batch_jobs(name)
    made = {
        r.job_id: status_on_scenario(r) for r in worker.sim.world.jobs() if str(r.input["prompt"]).startswith(prompt)
    }
    held = {j.scenario_job_id: j for j in jobs if j.scenario_job_id}
    counts = batch_progress(name).counts
    print(f"\n300 items canceled in flight: {report.canceled} canceled, {report.requested} requested; {len(made)} made")
    assert report.failures == []
    assert all(worker.dead_letters.get_for_job(j.id) is None for j in jobs)
    assert set(made) == set(held)  # every Scenario job made is held by its item's row
    assert all(held[sid].status.value == status for sid, status in made.items())  # and agrees with Scenario
    assert counts.get("canceled", 0) == sum(1 for s in made.values() if s == "canceled") + sum(
        1 for j in jobs if j.scenario_job_id is None
    )
    assert counts.get("success", 0) == sum(1 for s in made.values() if s == "success")


def test_a_worker_killed_during_the_request_leaves_one_scenario_job_which_its_successor_adopts(racing):
    prompt = "a request whose worker dies"
    # Scenario holds the request, unanswered, until the worker that sent it is dead.
    hold = racing.sim.faults.add_rule(endpoint="submit", action="hold", prompt_contains=prompt, times=1)
    doomed = racing.start_worker(name="doomed", concurrency=1)
    job_id = enqueue_generation(prompt, width=256, height=256)
    wait_until(lambda: racing.sim.faults.held(hold), 30, "Scenario to have the request", every_s=0.02)
    doomed.kill()
    sent = racing.jobs.get(job_id)
    assert sent.unanswered_submit_at is not None and sent.scenario_job_id is None  # it died waiting for the answer
    racing.sim.faults.release(hold)
    wait_until(lambda: made_on_scenario(racing, prompt), 10, "Scenario to make the job anyway")
    racing.start_worker(name="successor", concurrency=2, SCENARIO_RECOVERY_INTERVAL_S="1")
    try:
        done = racing.wait_for(job_id, timeout_s=60)
    finally:
        racing.stop()

    assert done.status is JobStatus.SUCCESS
    assert [r.job_id for r in made_on_scenario(racing, prompt)] == [done.scenario_job_id]
