"""The team's parallel limit held fleet-wide: two workers, five slots, the simulator over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import KEY, ON_POSTGRES, SECRET
from tests.harness import System, running_system, wait_until
from worker import cancel_job, enqueue_generation, runtime
from worker.batches.manifest import parse_manifest
from worker.batches.submit import submit_batch
from worker.dispatch import free_slot
from worker.simulator import SimulatorConfig
from worker.states import JobStatus
from worker.tasks.recovery import recover_stalled

pytestmark = ON_POSTGRES

CAP = 5
JOB_S = 1.0
JOBS = 100


@pytest.fixture(scope="module")
def capped(backend_url, redis_url, tmp_path_factory) -> Iterator[System]:
    """Two workers of two processes each, sharing a cap of five jobs on Scenario."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=JOB_S, seed=11)
    env = {
        "SCENARIO_PARALLEL_JOBS": str(CAP),
        # A waiting job looks again on its own every half lease; a release wakes it sooner.
        "SCENARIO_VISIBILITY_TIMEOUT_S": "30",
        "SCENARIO_SLOT_LEASE_S": "12",
        "SCENARIO_LEARNED_CAP_S": "8",
        # Look at a job often, so a freed slot is seen soon after Scenario ends the job.
        "SCENARIO_POLL_INITIAL_S": "0.1",
        "SCENARIO_POLL_MAX_S": "0.5",
        "SCENARIO_LOG_LEVEL": "INFO",
    }
    with running_system(
        database_url=backend_url,
        broker_url=redis_url,
        workdir=tmp_path_factory.mktemp("capped"),
        sim_config=config,
        workers=("w1", "w2"),
        **env,
    ) as system:
        yield system


def running_intervals(system: System, prompt_part: str) -> list[tuple[float, float]]:
    """(created, ended) on Scenario's clock of every simulated job whose prompt has `prompt_part`."""
    intervals = []
    for record in system.sim.world.jobs():
        if prompt_part not in str(record.input.get("prompt")):
            continue
        state = record.state(time.time())
        intervals.append((record.times.created_at, state.updated_at if state.is_final else float("inf")))
    return intervals


def peak(intervals: list[tuple[float, float]]) -> int:
    """The most jobs running at one moment; a job that ends at t no longer runs at t."""
    events = sorted([(end, -1) for _, end in intervals] + [(start, 1) for start, _ in intervals])
    running = highest = 0
    for _, step in events:
        running += step
        highest = max(highest, running)
    return highest


def waiting_for_a_slot(system: System, job_id: str) -> bool:
    return any(f"job_id={job_id}" in line and "every parallel slot" in line for line in system.logs().splitlines())


def unfinished(system: System, ids: list[str]) -> str:
    return "\n".join(str(job) for job in system.jobs.get_many(ids) if not job.status.is_final)


def all_final(system: System, ids: list[str]) -> bool:
    return all(job.status.is_final for job in system.jobs.get_many(ids))


def test_a_hundred_jobs_never_run_more_than_five_at_once_and_each_is_sent_once(capped):
    prompt = "a parallel lantern"
    started = time.monotonic()
    ids = [enqueue_generation(f"{prompt} #{n}", width=256, height=256) for n in range(JOBS)]
    wait_until(
        lambda: all_final(capped, ids),
        90,
        "a hundred jobs to finish",
        every_s=0.2,
        on_timeout=lambda: unfinished(capped, ids),
    )
    took_s = time.monotonic() - started

    jobs = capped.jobs.get_many(ids)
    intervals = running_intervals(capped, prompt)
    floor_s = JOBS / CAP * JOB_S
    print(
        f"\n{JOBS} jobs of {JOB_S:g} s, cap {CAP}, 2 workers: took {took_s:.2f} s, floor {floor_s:g} s "
        f"({took_s / floor_s:.2f}x), peak on Scenario {peak(intervals)}, submits to Scenario {len(intervals)}, "
        f"dead letters {sum(1 for j in jobs if j.status is JobStatus.DEAD)}"
    )
    assert [j.status for j in jobs] == [JobStatus.SUCCESS] * JOBS
    assert all(capped.dead_letters.get_for_job(job_id) is None for job_id in ids)
    assert len(intervals) == JOBS  # each job sent once
    assert peak(intervals) == CAP
    assert runtime.current().slots.in_use() == 0


def test_a_403_on_one_model_fails_that_job_only_and_pauses_nothing(capped):
    # The plan may not use this model: Scenario answers 403 at submit (the key can still see the model).
    capped.sim.faults.add_rule(endpoint="submit", model_id="flux.1-schnell", status=403)
    refused = capped.jobs.get(enqueue_generation("a forbidden relic", model_id="flux.1-schnell"))
    others = [enqueue_generation(f"an allowed relic #{n}", width=256, height=256) for n in range(4)]

    jobs = [capped.wait_for(job_id, timeout_s=30) for job_id in others]

    assert capped.wait_for(refused.id).status is JobStatus.DEAD
    assert all(job.status is JobStatus.SUCCESS and job.attempts == 1 for job in jobs)
    assert runtime.current().auth_pause.current() is None
    assert f"pausing submits fleet-wide job_id={refused.id}" not in capped.logs()
    assert "raised unexpected: Forbidden" not in capped.logs()  # a known refusal is one line, no traceback
    wait_until(lambda: runtime.current().slots.in_use() == 0, 5, "every slot to be given back")


def test_a_parallel_limit_refusal_shrinks_the_cap_and_waits_without_spending_a_retry(capped):
    prompt = "a crowded forge, over the plan's parallel limit"
    faults = capped.sim.faults
    body = {"reason": "Too many parallel jobs", "details": {"actionName": "parallelInferences", "actionLimit": 2}}
    faults.add_rule(endpoint="submit", prompt_contains=prompt, status=429, body=body, times=1)

    job_id = enqueue_generation(prompt, width=256, height=256)
    wait_until(lambda: f"parallel limit reached job_id={job_id}" in capped.logs(), 20, "the refusal to be seen")
    rt = runtime.current()
    learned_cap, fleet_paused_s = rt.slots.cap, rt.limiter.paused_for()
    job = capped.wait_for(job_id, timeout_s=30)

    assert learned_cap < CAP
    assert fleet_paused_s == 0  # not a request-rate problem: the request budget goes on
    assert job.status is JobStatus.SUCCESS
    assert job.attempts == 1  # the refused submit spent nothing
    assert capped.sim.stats()["submissions_by_prompt"][prompt] == 1
    wait_until(lambda: rt.slots.cap == CAP, 15, "the learned cap to grow back")


def test_a_job_canceled_while_waiting_for_a_slot_gives_its_place_up(capped):
    slow = "a slow bellows, holding every slot"
    capped.sim.faults.job_duration(prompt_contains=slow, seconds=4)
    holders = [enqueue_generation(f"{slow} #{n}", width=256, height=256) for n in range(CAP)]
    wait_until(lambda: all(j.scenario_job_id for j in capped.jobs.get_many(holders)), 20, "five jobs to be running")
    waiter = enqueue_generation("a patient anvil, waiting for a slot", width=256, height=256)
    wait_until(lambda: waiting_for_a_slot(capped, waiter), 10, "the job to wait for a slot")

    cancel_job(waiter)
    for job_id in holders:
        capped.wait_for(job_id, timeout_s=30)

    assert capped.jobs.get(waiter).status is JobStatus.CANCELED
    assert capped.jobs.get(waiter).scenario_job_id is None
    wait_until(lambda: runtime.current().slots.in_use() == 0, 5, "every slot to be given back")


def test_an_applications_job_goes_before_the_batch_items_waiting_for_a_slot(capped, tmp_path):
    prompt = "a slow library tile"
    capped.sim.faults.job_duration(prompt_contains=prompt, seconds=3)
    items = "".join(f"  - name: tile-{n:02d}\n    prompt: {prompt} {n}\n" for n in range(20))
    submit_batch(parse_manifest(f"batch: tiles\ndefaults:\n  width: 256\n  height: 256\nitems:\n{items}", kind="yaml"))
    wait_until(lambda: sum(1 for j in capped.batch_jobs("tiles") if j.submitted_at) >= CAP, 20, "every slot taken")
    tiles = [j.id for j in capped.batch_jobs("tiles")]
    wait_until(lambda: runtime.current().slots.waiting_among(tiles), 20, "batch items to wait for a slot")

    job_id = enqueue_generation("an application's urgent sigil", width=256, height=256)
    job = capped.wait_for(job_id, timeout_s=60)
    wait_until(lambda: all(j.is_final for j in capped.batch_jobs("tiles")), 60, "the batch to end")

    tiles = capped.batch_jobs("tiles")
    sent_before = sum(1 for j in tiles if j.submitted_at < job.submitted_at)
    print(f"\nthe application's job was sent after {sent_before} of 20 batch items, with a cap of {CAP}")
    assert job.status is JobStatus.SUCCESS
    # The slots the batch held, and the few freed meanwhile whose waiters were already woken; first
    # come, first served would have sent it after all twenty.
    assert sent_before <= CAP + 2


def test_a_batch_under_the_cap_waits_in_the_list_not_the_broker_and_each_item_is_sent_once(capped):
    prompt = "a parked loom"
    capped.sim.faults.job_duration(prompt_contains=prompt, seconds=2)
    rt = runtime.current()
    wait_until(lambda: rt.slots.in_use() == 0, 10, "every slot to be free")
    items = "".join(f"  - name: loom-{n:02d}\n    prompt: {prompt} {n}\n" for n in range(30))
    submit_batch(parse_manifest(f"batch: looms\ndefaults:\n  width: 256\n  height: 256\nitems:\n{items}", kind="yaml"))
    ids = [j.id for j in capped.batch_jobs("looms")]

    parked = rt.slots.waiting_among(ids)
    # The recovery takes a parked item for a waiter, not for a lost message: touched, not sent again.
    recovered = recover_stalled(untouched_since=datetime.now(timezone.utc) + timedelta(seconds=1))
    # An item the free slots admitted stays listed until its submit takes the slot, which may come
    # before the recovery's look; those listed before and after it were parked throughout.
    parked_throughout = parked & rt.slots.waiting_among(ids)
    wait_until(
        lambda: all_final(capped, ids), 60, "the batch to end", every_s=0.2, on_timeout=lambda: unfinished(capped, ids)
    )

    jobs = capped.jobs.get_many(ids)
    intervals = running_intervals(capped, prompt)
    assert len(parked) >= len(ids) - CAP  # only the items the free slots admitted had a message
    assert parked_throughout, "items were parked while the recovery looked"
    assert not parked_throughout & {job.id for job in recovered}
    assert [j.status for j in jobs] == [JobStatus.SUCCESS] * len(ids)
    assert len(intervals) == len(ids)  # each item sent once
    assert peak(intervals) <= CAP
    assert rt.slots.waiting_among(ids) == set()


def test_a_parked_item_that_ended_unseen_gives_its_turn_to_the_next(capped):
    rt = runtime.current()
    wait_until(lambda: rt.slots.in_use() == 0, 10, "every slot to be free")
    holders = [f"outside-holder-{n}" for n in range(CAP)]
    for holder in holders:
        assert rt.slots.acquire(holder)
    items = "".join(f"  - name: reel-{n}\n    prompt: a parked reel {n}\n" for n in range(3))
    submit_batch(parse_manifest(f"batch: reels\ndefaults:\n  width: 256\n  height: 256\nitems:\n{items}", kind="yaml"))
    first, second, third = sorted(capped.batch_jobs("reels"), key=lambda j: j.item_name)
    rt.jobs.mark_status(first.id, JobStatus.DEAD, error={"status": None, "code": "GONE", "message": "ended unseen"})

    woken = free_slot(holders[0])
    for holder in holders[1:]:
        free_slot(holder)
    ends = [capped.wait_for(job.id, timeout_s=30) for job in (second, third)]

    assert woken == [second.id]
    assert [job.status for job in ends] == [JobStatus.SUCCESS] * 2
    assert rt.slots.waiting_among([first.id, second.id, third.id]) == set()
