"""A batch's progress worked out from its tally per status: pure, no database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from worker.batches.runs import progress_of
from worker.db.batches import BatchTally, StatusTally
from worker.db.views import BatchView
from worker.states import JobStatus

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=1)
BATCH = BatchView("b" * 32, "icons", "icons.yaml", None, 10, T0, T0, None)


def tally(status: JobStatus, jobs: int, *, priced: int = 0, spent: float = 0.0, charged: float = 0.0):
    return StatusTally(status, jobs, 0, priced, spent, charged)


def of(statuses: list[StatusTally], last_done: int | None = None) -> BatchTally:
    """The batch's tally: its first job made a minute in, its last one ended `last_done` minutes in."""
    finished = T0 + timedelta(minutes=last_done) if last_done is not None else None
    return BatchTally(statuses, 0.0, T0 + timedelta(minutes=1), finished)


@pytest.mark.parametrize(
    ("statuses", "estimate"),
    [
        # Nothing priced yet: no estimate.
        ([tally(JobStatus.CREATED, 10)], None),
        # Two of ten spent 2 units each: the other eight are expected at the same price.
        ([tally(JobStatus.SUCCESS, 2, priced=2, spent=4.0, charged=4.0), tally(JobStatus.CREATED, 8)], 20.0),
        # A running item counts what it was charged; one that ended uncharged costs nothing more.
        (
            [
                tally(JobStatus.IN_PROGRESS, 1, priced=1, spent=0.0, charged=3.0),
                tally(JobStatus.SUCCESS, 1, priced=1, spent=1.0, charged=1.0),
                tally(JobStatus.DEAD, 8),
            ],
            4.0,
        ),
    ],
)
def test_the_whole_batch_is_estimated_from_the_items_priced_so_far(statuses, estimate):
    progress = progress_of(BATCH, of(statuses), NOW)

    assert progress.cu_estimate == estimate


def test_a_finished_batch_counts_its_time_until_its_last_item_ended():
    statuses = [tally(JobStatus.SUCCESS, 7), tally(JobStatus.FAILURE, 3)]

    progress = progress_of(BATCH, of(statuses, last_done=40), NOW)

    assert progress.counts == {"success": 7, "failure": 3}
    assert (progress.finished, progress.items, progress.current_jobs) == (10, 10, 10)
    assert progress.elapsed_s == 39 * 60


def test_a_running_batch_counts_its_time_until_now_and_its_size_from_the_larger_of_manifest_and_jobs():
    statuses = [tally(JobStatus.SUCCESS, 5), tally(JobStatus.IN_PROGRESS, 7)]

    progress = progress_of(BATCH, of(statuses, last_done=30), NOW)

    assert progress.items == 12 and progress.finished == 5
    assert progress.elapsed_s == 59 * 60
