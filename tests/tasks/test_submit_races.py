"""Each race of the submit path made to happen on purpose: a rival runs at a named point of the
path (after the claim, during the request, after the answer, once the claim lapsed) and the
test counts the Scenario jobs made and reads the row's final state.

The steps run here, in the test's process, against the simulator over HTTP and a real
database, with no worker to race them (whole systems race in test_submit_fleet.py).
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.cli.test_dlq_cli import run
from tests.harness import wait_until
from tests.tasks.conftest import made_on_scenario, sent_and_lost, status_on_scenario, unsent_job
from worker import cancel_job, deadletters, runtime
from worker.cancellation import CancelOutcome
from worker.fleet.errors import SubmitInProgress
from worker.reconcile import reconcile
from worker.retrying import AnswerMayStillCome
from worker.states import JobStatus
from worker.tasks import submit
from worker.tasks.submit import submit_generation as task


def test_a_cancel_right_after_the_claim_leaves_nothing_to_send(stepping):
    prompt = "a race after the claim"
    job_id = unsent_job(prompt)
    claim = submit.claim(job_id)

    told = cancel_job(job_id, wait_s=0)
    # The claim's own row is what the checks see; the statement that opens the send finds the cancel.
    checked = submit.check(task, claim)
    sent = submit.send(task, claim, checked) if checked is not None else None
    runtime.current().jobs.release_claim(claim)

    assert told.outcome is CancelOutcome.REQUESTED
    assert sent is None
    job = stepping.jobs.get(job_id)
    assert job.status is JobStatus.CANCELED and job.scenario_job_id is None and job.attempts == 0
    assert made_on_scenario(stepping, prompt) == []


def test_a_cancel_during_the_request_is_carried_out_on_scenario_once_it_answers(stepping):
    prompt = "a race during the request"
    # Scenario holds the request, unanswered, until the cancel has been asked for.
    hold = stepping.sim.faults.add_rule(endpoint="submit", action="hold", prompt_contains=prompt, times=1)
    job_id = unsent_job(prompt)

    def sender() -> None:
        claim = submit.claim(job_id)
        sent = submit.send(task, claim, submit.check(task, claim))
        submit.record_cancel_request(task, sent)

    def answer_once_the_cancel_is_asked() -> None:
        wait_until(lambda: stepping.jobs.get(job_id).cancel_requested_at, 15, "the cancel to be asked", every_s=0.02)
        stepping.sim.faults.release(hold)

    thread = threading.Thread(target=sender)
    thread.start()
    wait_until(lambda: stepping.sim.faults.held(hold), 15, "Scenario to have the request", every_s=0.02)
    answerer = threading.Thread(target=answer_once_the_cancel_is_asked)
    answerer.start()
    told = cancel_job(job_id, wait_s=15)
    thread.join(15)
    answerer.join(15)

    made = made_on_scenario(stepping, prompt)
    assert len(made) == 1
    assert told.outcome is CancelOutcome.CANCELED and told.scenario_job_id == made[0].job_id
    assert status_on_scenario(made[0]) == "canceled"
    assert stepping.jobs.get(job_id).status is JobStatus.CANCELED


def test_a_cancel_between_the_answer_and_its_record_is_carried_out_on_scenario(stepping):
    prompt = "a race after the answer"
    job_id = unsent_job(prompt)
    rt = runtime.current()
    claim = submit.claim(job_id)
    job = submit.check(task, claim)
    assert rt.jobs.open_send(claim, hold_s=submit.request_horizon_s()) == 1
    answer = submit._post(job.model_id, job.params)

    told = cancel_job(job_id, wait_s=0)
    recorded = submit.record_cancel_request(task, submit.record(task, claim, job, answer))

    made = made_on_scenario(stepping, prompt)
    assert told.outcome is CancelOutcome.REQUESTED  # never "it never reached Scenario"
    assert len(made) == 1 and status_on_scenario(made[0]) == "canceled"
    assert recorded.status is JobStatus.CANCELED and recorded.scenario_job_id == made[0].job_id


def test_a_second_sender_waits_while_the_first_holds_the_row(stepping):
    job_id = unsent_job("a race of two chains")
    held = submit.claim(job_id)

    with pytest.raises(SubmitInProgress):
        submit.claim(job_id)
    runtime.current().jobs.release_claim(held)


def test_redis_flushed_after_the_claim_lets_no_second_sender_in(stepping):
    if runtime.current().redis is None:
        pytest.skip("this system has no Redis to flush")
    job_id = unsent_job("a race with Redis flushed")
    held = submit.claim(job_id)

    runtime.current().redis.flushdb()  # the test's own Redis DB index

    with pytest.raises(SubmitInProgress):
        submit.claim(job_id)
    runtime.current().jobs.release_claim(held)


def test_a_sender_whose_claim_lapsed_and_was_taken_over_sends_nothing(stepping):
    prompt = "a race with a lapsed claim"
    job_id = unsent_job(prompt)
    rt = runtime.current()
    lapsed = rt.jobs.claim_submit(job_id, "l" * 32, hold_s=0.05)
    time.sleep(0.1)
    current = submit.claim(job_id)
    job = submit.check(task, current)

    sent = submit.send(task, current, job)
    late = submit.send(task, lapsed, job)

    assert sent is not None and late is None
    assert len(made_on_scenario(stepping, prompt)) == 1
    assert stepping.jobs.get(job_id).attempts == 1


def test_an_answer_lost_after_scenario_made_the_job_is_looked_for_only_past_the_horizon_then_adopted(stepping):
    prompt = "a race with a lost answer"
    job_id = unsent_job(prompt)
    rt = runtime.current()
    sent_and_lost(job_id)  # Scenario makes the job; its sender dies with the answer

    early = submit.claim(job_id)
    with pytest.raises(AnswerMayStillCome):
        submit.check(task, early)
    rt.jobs.release_claim(early)
    waited = stepping.jobs.get(job_id).unanswered_submit_at
    wait_until(lambda: (time.time() - waited.timestamp()) > submit.answer_horizon_s(), 30, "the horizon", every_s=0.2)
    later = submit.claim(job_id)
    adopted = submit.check(task, later)
    rt.jobs.release_claim(later)

    made = made_on_scenario(stepping, prompt)
    assert len(made) == 1
    assert adopted.scenario_job_id == made[0].job_id and adopted.attempts == 1


def test_a_replay_of_a_dead_job_whose_answer_was_lost_takes_the_job_scenario_made(stepping):
    prompt = "a replay after a lost answer"
    job_id = unsent_job(prompt)
    rt = runtime.current()
    sent_and_lost(job_id)  # made on Scenario; the answer is lost
    error = {"status": None, "code": None, "message": "read timed out"}
    rt.jobs.dead_letter(job_id, reason="retries_exhausted", task_name=task.name, payload={}, error=error, attempts=1)
    letter = stepping.dead_letters.get_for_job(job_id)

    too_soon = deadletters.replay(letter.id)
    waited = stepping.jobs.get(job_id).unanswered_submit_at
    wait_until(lambda: (time.time() - waited.timestamp()) > submit.answer_horizon_s(), 30, "the horizon", every_s=0.2)
    later = deadletters.replay(letter.id)

    assert too_soon.new_job_id is None and "try again later" in too_soon.skipped_reason
    assert later.new_job_id is None and later.took_result_job_id == job_id
    assert len(made_on_scenario(stepping, prompt)) == 1
    assert stepping.jobs.get(job_id).status is JobStatus.SUCCESS


def test_reconciliation_gives_an_orphan_to_its_row_cancels_a_surplus_and_leaves_strangers_alone(stepping):
    rt = runtime.current()
    lost_prompt, held_prompt, stranger = "an orphan to adopt", "a surplus to cancel", "made by someone else"
    for prompt in (lost_prompt, held_prompt, stranger):
        stepping.sim.faults.job_duration(prompt_contains=prompt, seconds=60)
    lost = unsent_job(lost_prompt)
    claim = submit.claim(lost)
    job = submit.check(task, claim)
    rt.jobs.open_send(claim, hold_s=0.05)
    submit._post(job.model_id, job.params)  # its sender died with the answer
    holder = unsent_job(held_prompt)
    claim = submit.claim(holder)
    job = submit.check(task, claim)
    sent = submit.send(task, claim, job)
    submit._post(job.model_id, job.params)  # the same inputs sent twice: one too many
    rt.client.submit_custom("flux.1-dev", {"prompt": stranger, "width": 256, "height": 256})
    (orphan,) = made_on_scenario(stepping, lost_prompt)
    surplus = next(r for r in made_on_scenario(stepping, held_prompt) if r.job_id != sent.scenario_job_id)
    (unknown,) = made_on_scenario(stepping, stranger)

    dry = run("jobs", "reconcile", "--dry-run", "--json", env=stepping.env)
    report = reconcile()
    again = reconcile()

    said = json.loads(dry.stdout)
    assert dry.returncode == 0, dry.stderr
    assert said["adopted"] == [{"job_id": lost, "scenario_job_id": orphan.job_id}]
    assert said["canceled"] == [surplus.job_id]
    assert report.adopted == [(lost, orphan.job_id)] and report.canceled == [surplus.job_id]
    assert unknown.job_id in report.not_ours
    assert again.adopted == [] and again.canceled == []
    assert stepping.jobs.get(lost).scenario_job_id == orphan.job_id
    assert stepping.jobs.get(holder).scenario_job_id == sent.scenario_job_id
    now = {r.job_id: status_on_scenario(r) for r in stepping.sim.world.jobs()}
    assert now[surplus.job_id] == "canceled" and now[unknown.job_id] != "canceled"
    rt.client.cancel_job(unknown.job_id)
