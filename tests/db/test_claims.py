"""The job row decides who sends a job: fenced claims, cancels that compete for the row, chains."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.db.conftest import FLUX_PARAMS, scenario_job
from tests.db.test_concurrency import race
from worker import lanes
from worker.db.claims import CancelStep
from worker.db.jobs import JobNotFound, JobRepository, NewJob
from worker.db.models import utcnow
from worker.db.submissions import answer_may_still_come
from worker.states import JobStatus

HOLD_S = 30.0


def new_job(jobs: JobRepository) -> str:
    return jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS).id


def test_a_claim_is_refused_while_another_holds_the_row_and_each_claim_gets_a_higher_fence(jobs):
    job_id = new_job(jobs)
    first = jobs.claim_submit(job_id, "a" * 32, hold_s=HOLD_S)

    assert first is not None and first.fence == 1
    assert jobs.claim_submit(job_id, "b" * 32, hold_s=HOLD_S) is None
    assert jobs.release_claim(first)
    second = jobs.claim_submit(job_id, "b" * 32, hold_s=HOLD_S)
    assert second is not None and second.fence == 2


def test_twenty_senders_claiming_at_once_leave_exactly_one_holder(jobs):
    job_id = new_job(jobs)

    claims = race(20, lambda i: jobs.claim_submit(job_id, f"{i:032d}", hold_s=HOLD_S))

    assert sum(1 for claim in claims if claim is not None) == 1


def test_a_submit_of_the_live_chain_claims_and_counts_its_delivery_in_one_statement(jobs):
    job_id = new_job(jobs)

    taken = jobs.claim_delivered_submit(job_id, "a" * 32, seq=0, delivery="task-1:0", hold_s=HOLD_S)

    assert taken is not None
    claim, deliveries = taken
    assert claim.fence == 1 and deliveries == 1 and claim.job is not None and claim.job.id == job_id
    # Held: a redelivered copy claims nothing and counts nothing (the whole path counts it).
    assert jobs.claim_delivered_submit(job_id, "b" * 32, seq=0, delivery="task-1:0", hold_s=HOLD_S) is None
    assert jobs.release_claim(claim)
    again = jobs.claim_delivered_submit(job_id, "b" * 32, seq=0, delivery="task-1:0", hold_s=HOLD_S)
    assert again is not None and again[1] == 2 and again[0].fence == 2
    assert jobs.release_claim(again[0])
    assert jobs.claim_delivery(job_id, "task-2:0") == 1


def test_a_submit_of_an_older_chain_claims_nothing(jobs):
    job_id = new_job(jobs)
    seq, _ = jobs.next_submit_seq(job_id)

    assert jobs.claim_delivered_submit(job_id, "a" * 32, seq=seq - 1, delivery="t:0", hold_s=HOLD_S) is None
    assert jobs.get(job_id).claim_fence == 0
    assert jobs.claim_delivered_submit(job_id, "a" * 32, seq=seq, delivery="t:0", hold_s=HOLD_S) is not None


def test_a_lapsed_claim_taken_over_can_neither_send_nor_release_the_new_holders_claim(jobs):
    job_id = new_job(jobs)
    old = jobs.claim_submit(job_id, "a" * 32, hold_s=0.05)
    time.sleep(0.1)
    new = jobs.claim_submit(job_id, "b" * 32, hold_s=HOLD_S)

    assert old is not None and new is not None and new.fence == old.fence + 1
    assert jobs.open_send(old, hold_s=HOLD_S) is None
    assert not jobs.release_claim(old)
    assert jobs.open_send(new, hold_s=HOLD_S) == 1
    assert jobs.get(job_id).attempts == 1


def test_a_cancel_before_any_claim_ends_the_job_and_no_claim_follows(jobs):
    job_id = new_job(jobs)

    assert jobs.request_cancel(job_id) is CancelStep.ENDED
    assert jobs.get(job_id).status is JobStatus.CANCELED
    assert jobs.claim_submit(job_id, "a" * 32, hold_s=HOLD_S) is None


def test_a_cancel_while_a_sender_holds_the_row_becomes_a_request_that_closes_the_send(jobs):
    job_id = new_job(jobs)
    claim = jobs.claim_submit(job_id, "a" * 32, hold_s=HOLD_S)

    assert jobs.request_cancel(job_id) is CancelStep.REQUESTED
    assert jobs.get(job_id).status is JobStatus.CREATED  # the holder decides
    assert jobs.open_send(claim, hold_s=HOLD_S) is None
    assert jobs.end_before_sending(claim, job_id)
    assert jobs.get(job_id).status is JobStatus.CANCELED and jobs.get(job_id).attempts == 0


def test_a_cancel_after_the_request_left_cannot_end_the_job_even_once_the_claim_lapsed(jobs):
    job_id = new_job(jobs)
    claim = jobs.claim_submit(job_id, "a" * 32, hold_s=HOLD_S)
    assert jobs.open_send(claim, hold_s=0.05) == 1
    time.sleep(0.1)

    # Scenario may be making the job: only its sender (or a later search) can settle it.
    assert jobs.request_cancel(job_id) is CancelStep.REQUESTED
    assert jobs.get(job_id).status is JobStatus.CREATED
    assert jobs.get(job_id).cancel_requested_at is not None


def test_the_answer_is_stored_and_the_claim_given_up_in_one_step(jobs):
    job_id = new_job(jobs)
    claim = jobs.claim_submit(job_id, "a" * 32, hold_s=HOLD_S)
    jobs.open_send(claim, hold_s=HOLD_S)

    job = jobs.record_submitted(job_id, scenario_job("job_one", status="queued"), claim=claim)

    assert job.scenario_job_id == "job_one" and job.unanswered_submit_at is None
    assert job.claim_token is None
    assert jobs.request_cancel(job_id) is CancelStep.ON_SCENARIO


def test_a_lapsed_senders_answer_is_kept_only_when_the_row_holds_none(jobs):
    job_id = new_job(jobs)
    old = jobs.claim_submit(job_id, "a" * 32, hold_s=0.05)
    jobs.open_send(old, hold_s=0.05)
    time.sleep(0.1)
    new = jobs.claim_submit(job_id, "b" * 32, hold_s=HOLD_S)
    jobs.record_submitted(job_id, scenario_job("job_new", status="queued"), claim=new)

    after = jobs.record_submitted(job_id, scenario_job("job_old", status="queued"), claim=old)

    # The caller sees another id than its own and cancels its own on Scenario.
    assert after.scenario_job_id == "job_new"


def test_a_cancel_of_a_final_job_changes_nothing_and_an_unknown_job_is_named(jobs):
    job_id = new_job(jobs)
    jobs.mark_status(job_id, JobStatus.SUCCESS)

    assert jobs.request_cancel(job_id) is CancelStep.FINAL
    with pytest.raises(JobNotFound):
        jobs.request_cancel("0" * 32)


def test_each_new_chain_of_submits_has_a_higher_number_and_a_sent_job_starts_none(jobs):
    job_id = new_job(jobs)

    assert jobs.next_submit_seq(job_id) == (1, None)
    assert jobs.next_submit_seq(job_id) == (2, None)
    jobs.record_submitted(job_id, scenario_job("job_one", status="queued"))
    assert jobs.next_submit_seq(job_id) is None


def test_chains_started_together_skip_the_jobs_that_need_no_submit(jobs):
    waiting, sent, again = new_job(jobs), new_job(jobs), new_job(jobs)
    jobs.next_submit_seq(again)
    jobs.record_submitted(sent, scenario_job("job_sent", status="queued"))

    chains = jobs.next_submit_seqs([again, sent, waiting, "no-such-job"])

    assert chains == {again: (2, None), waiting: (1, None)}
    assert list(chains) == [again, waiting]  # in the order given


def test_a_waiter_touches_its_row_only_while_its_chain_is_live_and_it_is_unsent(jobs):
    job_id = new_job(jobs)
    assert jobs.touch_waiter(job_id, 0)

    jobs.next_submit_seq(job_id)
    assert not jobs.touch_waiter(job_id, 0)  # a newer chain took over
    assert jobs.touch_waiter(job_id, 1)

    jobs.request_cancel(job_id)
    assert not jobs.touch_waiter(job_id, 1)


def test_a_stalled_job_is_found_behind_a_thousand_queued_batch_items(jobs, db):
    from worker.db.batches import BatchRepository

    batch, _ = BatchRepository(db).open(name="library", source="library.yaml", out_dir=None, item_count=1000)
    jobs.create_many(NewJob(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=batch.id) for _ in range(1000))
    time.sleep(0.05)
    lost = new_job(jobs)
    jobs.record_submitted(lost, scenario_job("job_lost", status="queued"))
    later = utcnow() + timedelta(seconds=1)

    found = jobs.stalled(untouched_since=later, limit=500, skip_unpicked_in=[lanes.BATCH])

    assert [job.id for job in found] == [lost]
    assert len(jobs.stalled(untouched_since=later, limit=500)) == 500  # without the rule it would be hidden


@pytest.mark.parametrize(
    ("error", "may_still_come"),
    [
        (None, True),  # a crash or a timeout: no answer at all
        ({"status": None, "code": None, "message": "read timed out"}, True),
        ({"status": 502, "message": "Bad Gateway"}, True),  # a gateway gave up, the service may not have
        ({"status": 504, "message": "Gateway Timeout"}, True),
        ({"status": 500, "message": "Internal server error"}, False),  # Scenario answered itself
        ({"status": 503, "message": "Service Unavailable"}, False),
        ({"status": 408, "message": "Request Timeout"}, False),
    ],
)
def test_whether_scenario_may_still_make_a_job_after_a_lost_answer(error, may_still_come):
    assert answer_may_still_come(error) is may_still_come
