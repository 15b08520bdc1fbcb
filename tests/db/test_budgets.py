"""Budgets are held by the database: however many senders race for the last units, the budget holds."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.db.conftest import FLUX_PARAMS
from worker.db.batches import BatchRepository
from worker.db.budgets import BudgetLedger, utc_day
from worker.db.claims import Claim
from worker.db.jobs import JobRepository
from worker.states import JobStatus


def claimed_jobs(jobs: JobRepository, batch_id: str | None, count: int) -> list[Claim]:
    claims = []
    for _ in range(count):
        job = jobs.create(model_id="flux.1-dev", params=FLUX_PARAMS, batch_id=batch_id)
        claim = jobs.claim_submit(job.id, uuid.uuid4().hex, hold_s=60)
        assert claim is not None
        claims.append(claim)
    return claims


def race(ledger: BudgetLedger, claims: list[Claim], **limits) -> list:
    """Every claim reserves at the same moment; the refusals, in claim order (None: held)."""
    start = threading.Barrier(len(claims))
    results: list = [None] * len(claims)

    def reserve(index: int) -> None:
        start.wait()
        results[index] = ledger.reserve(claims[index], cu=10.0, **limits)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(len(claims))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_thirty_senders_racing_for_a_batch_budget_of_100_hold_exactly_ten_jobs(db, jobs):
    batch, _ = BatchRepository(db).open(name="racing-icons", source="test", out_dir=None, item_count=30)
    ledger = BudgetLedger(db)
    ledger.set_batch_budget(batch.id, 100.0)

    results = race(ledger, claimed_jobs(jobs, batch.id, 30), batch_id=batch.id, daily_limit_cu=0)

    assert results.count(None) == 10
    refused = [r for r in results if r is not None]
    assert len(refused) == 20 and all(r.budget == "batch" and r.limit_cu == 100 for r in refused)
    assert "raise the budget" in refused[0].reason
    assert BatchRepository(db).get(batch.id).cu_committed == pytest.approx(100.0)
    assert sum(1 for job in jobs.list(limit=100) if job.cu_reserved == 10.0) == 10


def test_thirty_senders_racing_for_a_daily_budget_of_50_hold_exactly_five_jobs(db, jobs):
    ledger = BudgetLedger(db)

    results = race(ledger, claimed_jobs(jobs, None, 30), batch_id=None, daily_limit_cu=50.0)

    assert results.count(None) == 5
    assert {r.budget for r in results if r is not None} == {"daily"}
    assert ledger.day_committed(utc_day()) == pytest.approx(50.0)


def test_a_job_holds_its_reservation_once_however_often_it_is_tried(db, jobs):
    batch, _ = BatchRepository(db).open(name="retried-icons", source="test", out_dir=None, item_count=1)
    ledger = BudgetLedger(db)
    ledger.set_batch_budget(batch.id, 100.0)
    [claim] = claimed_jobs(jobs, batch.id, 1)

    assert ledger.reserve(claim, cu=10.0, batch_id=batch.id, daily_limit_cu=0) is None
    assert ledger.reserve(claim, cu=10.0, batch_id=batch.id, daily_limit_cu=0) is None

    assert BatchRepository(db).get(batch.id).cu_committed == pytest.approx(10.0)


def test_scenario_s_price_replaces_the_estimate_and_an_unsent_job_gives_its_units_back(db, jobs):
    batch, _ = BatchRepository(db).open(name="priced-icons", source="test", out_dir=None, item_count=2)
    ledger = BudgetLedger(db)
    ledger.set_batch_budget(batch.id, 100.0)
    sent, unsent = claimed_jobs(jobs, batch.id, 2)
    for claim in (sent, unsent):
        assert ledger.reserve(claim, cu=10.0, batch_id=batch.id, daily_limit_cu=40.0) is None

    ledger.settle(sent.job_id, 12.0)
    jobs.end_before_sending(unsent, unsent.job_id)

    assert BatchRepository(db).get(batch.id).cu_committed == pytest.approx(12.0)
    assert ledger.day_committed() == pytest.approx(12.0)
    assert jobs.get(unsent.job_id).status is JobStatus.CANCELED and jobs.get(unsent.job_id).cu_reserved is None


def test_a_refused_job_is_left_paused_with_its_reason_and_the_recovery_does_not_take_it_for_stalled(db, jobs):
    batch, _ = BatchRepository(db).open(name="paused-icons", source="test", out_dir=None, item_count=2)
    ledger = BudgetLedger(db)
    ledger.set_batch_budget(batch.id, 10.0)
    first, second = claimed_jobs(jobs, batch.id, 2)
    assert ledger.reserve(first, cu=10.0, batch_id=batch.id, daily_limit_cu=0) is None

    refusal = ledger.reserve(second, cu=10.0, batch_id=batch.id, daily_limit_cu=0)
    ledger.pause(second, refusal.reason)
    jobs.release_claim(second)

    [paused] = ledger.paused(batch_id=batch.id)
    assert paused.id == second.job_id and paused.is_paused and "10 of 10 CU committed" in paused.paused_reason
    from datetime import datetime, timedelta, timezone

    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert second.job_id not in {job.id for job in jobs.stalled(untouched_since=later)}


def test_setting_a_budget_counts_what_the_batch_already_holds(db, jobs):
    batch, _ = BatchRepository(db).open(name="late-budget", source="test", out_dir=None, item_count=3)
    ledger = BudgetLedger(db)
    claims = claimed_jobs(jobs, batch.id, 3)
    for claim in claims[:2]:
        assert ledger.reserve(claim, cu=10.0, batch_id=batch.id, daily_limit_cu=0) is None

    ledger.set_batch_budget(batch.id, 25.0)

    assert BatchRepository(db).get(batch.id).cu_committed == pytest.approx(20.0)
    assert ledger.reserve(claims[2], cu=10.0, batch_id=batch.id, daily_limit_cu=0) is not None
