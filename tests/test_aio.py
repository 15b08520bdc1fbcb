"""`worker.aio`: the application API as coroutines that never block the event loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import ON_POSTGRES
from worker import JobNotFound, JobOptions, aio
from worker.cancellation import CancelOutcome
from worker.states import JobStatus
from worker.waiting import WaitTimeout

pytestmark = ON_POSTGRES

TICK_S = 0.01


def test_an_async_enqueue_is_awaited_to_its_end_and_read_back(system):
    async def scenario():
        job_id = await aio.enqueue_generation("an amber amulet, awaited")
        ended = await aio.wait_for(job_id, timeout_s=120)
        return ended, await aio.get_job(job_id)

    ended, read = asyncio.run(scenario())

    assert ended.status is JobStatus.SUCCESS and read == ended


def test_an_async_wait_times_out_and_an_async_cancel_ends_the_job(system):
    prompt = "an ice palace, canceled while awaited"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=120)

    async def scenario():
        job_id = await aio.enqueue_generation(prompt)
        with pytest.raises(WaitTimeout):
            await aio.wait_for(job_id, timeout_s=1.5)
        result = await aio.cancel_job(job_id)
        return result, await aio.wait_for(job_id, timeout_s=60)

    result, ended = asyncio.run(scenario())

    assert result.outcome in (CancelOutcome.CANCELED, CancelOutcome.CANCELED_LOCALLY, CancelOutcome.REQUESTED)
    assert ended.status is JobStatus.CANCELED


def test_many_requests_are_enqueued_in_bulk_from_a_coroutine_with_their_options(system):
    requests = [{"prompt": f"a gem, bulk {n}", "width": 512} for n in range(5)]
    ids = asyncio.run(aio.enqueue_many(requests, options=JobOptions(tags=["gems"])))

    assert len(ids) == 5
    assert all(system.jobs.get(job_id).tags == ["gems"] for job_id in ids)


def test_an_id_no_job_has_is_job_not_found_from_a_coroutine_as_from_a_call(system):
    with pytest.raises(JobNotFound):
        asyncio.run(aio.get_job("no-such-job"))
    with pytest.raises(JobNotFound):
        asyncio.run(aio.cancel_job("no-such-job"))


# Last in the module: the worker is left with 200 jobs to run.
def test_200_async_enqueues_leave_the_event_loop_free_for_a_task_ticking_every_10_ms(system):
    async def scenario() -> tuple[list[str], int, float]:
        ticks = 0
        running = True

        async def ticker() -> None:
            nonlocal ticks
            while running:
                await asyncio.sleep(TICK_S)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        ids = await asyncio.gather(
            *(aio.enqueue_generation(f"a rune stone, async variant {n}", width=512) for n in range(200))
        )
        elapsed = time.monotonic() - started
        running = False
        await ticking
        return list(ids), ticks, elapsed

    ids, ticks, elapsed = asyncio.run(scenario())

    print(
        f"\n200 async enqueues in {elapsed:.2f} s: {ticks} ticks of 10 ms, "
        f"{ticks / (elapsed / TICK_S):.0%} of a free loop's"
    )
    assert len(set(ids)) == 200
    # A blocked loop would tick a few times at most; a free one about elapsed / 10 ms times.
    assert ticks >= 0.3 * elapsed / TICK_S, f"{ticks} ticks in {elapsed:.2f} s"
