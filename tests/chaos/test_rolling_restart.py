"""Rolling restarts mid-batch: each worker in turn gets SIGTERM (a warm shutdown) and a replacement starts
at once, several times over. Running tasks finish, held and countdown messages go back to the broker,
and the batch ends as an undisturbed one does: every item once on Scenario, none dead-lettered, every
old worker gone within its grace period. On Redis and on RabbitMQ."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from tests.chaos.conftest import Chaos, chaos_system
from tests.harness import wait_until
from worker.batches.runs import batch_progress, export_batch
from worker.cli.localstack import WorkerProcess
from worker.states import JobStatus

ITEMS = 160
# Renders spread over 3 to 9 s and each submit answered after 0.2 s, so the batch sends for a
# while and ends over a while: the restarts meet submits in flight, renders being watched, and
# countdown messages (the sweep, downloads, retries) held by the workers.
# Item N of both batches renders for the same time, fixed here: the simulator's own jitter comes
# from the random sequence every request draws from, so each batch would meet other renders and
# the makespan ratio would carry that luck. With the same renders, it is the restarts' cost.
RENDER_S = (3.0, 9.0)
RENDER_SEED = 160
SUBMIT_DELAY_S = 0.2
WORKERS = ("w1", "w2")
# Each worker is replaced this many times, in turn, while the batch runs.
ROUNDS = 2
# The first restart comes once this many items are sent; the next ones follow each other.
SENT_BEFORE_RESTARTS = 20
# Far above the second or two a warm shutdown takes here; a pool process that waited for results
# its main process no longer reads held one for 30 s.
GRACE_S = 30.0
PROMPT = "a brass weathervane"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_workers_restarted_in_turn_mid_batch_lose_nothing_pay_nothing_twice_and_exit_in_their_grace(chaos_tmp, broker):
    with chaos_system(chaos_tmp, workers=WORKERS, broker=broker) as chaos:
        _render_times_by_item(chaos)
        chaos.system.sim.faults.add_rule(endpoint="submit", action="slow", delay_s=SUBMIT_DELAY_S)
        steady_s = _run_undisturbed(chaos, "steady")

        name = "restarted"
        began = time.monotonic()
        out = chaos.submit(name, ITEMS, PROMPT)
        restarts = _restart_in_turn(chaos, name)
        chaos.settle(name, timeout_s=180)
        restarted_s = time.monotonic() - began

        counts = _check_the_books(chaos, name, out)
        handed_back = sum(_restored(worker) for worker in restarts["old"])
        print(
            f"\n[chaos] rolling restarts on {broker}: {counts}, {len(restarts['old'])} restarts "
            f"({restarts['during_batch']} mid-batch), {restarts['late']} late, "
            f"each gone at most {restarts['slowest_s']:.1f} s after SIGTERM (grace {GRACE_S:g} s), "
            f"{handed_back} unacknowledged messages restored at shutdown (Redis logs them); "
            f"makespan {restarted_s:.1f} s against {steady_s:.1f} s undisturbed "
            f"(ratio {restarted_s / steady_s:.2f})"
        )
        assert restarts["late"] == 0, "every old worker exits within its grace period"
        assert restarts["during_batch"] == len(WORKERS) * ROUNDS
        assert counts["succeeded"] == ITEMS
        assert counts["dead_letters"] == 0
        assert counts["sent_twice"] == 0
        assert counts["sent_once"] == ITEMS, "Scenario made each restarted item's job once"
        assert counts["jobs_created"] == 2 * ITEMS, "each item of both batches is paid for once"
        assert counts["duplicate_submissions"] == 0


def _render_times_by_item(chaos: Chaos) -> None:
    """Item N of either batch renders for the same time: the range cut in ITEMS even steps, shuffled
    once and for all. The rules go in from the highest number down, since the first matching rule
    wins and "number 15" is also in "... number 150"."""
    low, high = RENDER_S
    steps = [low + (high - low) * (k + 0.5) / ITEMS for k in range(ITEMS)]
    seconds = random.Random(RENDER_SEED).sample(steps, ITEMS)
    for n in reversed(range(ITEMS)):
        chaos.system.sim.faults.job_duration(seconds=seconds[n], prompt_contains=f" number {n}")


def _run_undisturbed(chaos: Chaos, name: str) -> float:
    """The same batch with no restart: the makespan the restarted one is compared with."""
    began = time.monotonic()
    chaos.submit(name, ITEMS, "an iron weathervane")
    chaos.settle(name, timeout_s=180)
    return time.monotonic() - began


def _restart_in_turn(chaos: Chaos, name: str) -> dict:
    """SIGTERM each worker in turn, its replacement started at once; count those not gone in their grace."""
    system = chaos.system
    live = {slot: system.workers[n] for n, slot in enumerate(WORKERS)}
    old: list[WorkerProcess] = []
    late = during_batch = 0
    # The replacement starts before the old worker is waited for: an upper bound on the slowest exit.
    slowest_s = 0.0
    wait_until(
        lambda: chaos.count(name, lambda job: job.scenario_job_id) >= SENT_BEFORE_RESTARTS,
        90,
        f"{SENT_BEFORE_RESTARTS} items of {name} to be sent",
        on_timeout=lambda: chaos.report(name),
    )
    for round_ in range(1, ROUNDS + 1):
        for slot in WORKERS:
            during_batch += not batch_progress(name).is_done
            stopping = live[slot]
            told_at = time.monotonic()
            stopping.terminate()
            live[slot] = system.start_worker(name=f"{slot}-r{round_}", concurrency=3)
            if stopping.exited_within(max(0.0, told_at + GRACE_S - time.monotonic())):
                slowest_s = max(slowest_s, time.monotonic() - told_at)
            else:
                late += 1
                stopping.kill()
            old.append(stopping)
    return {"old": old, "late": late, "during_batch": during_batch, "slowest_s": slowest_s}


def _check_the_books(chaos: Chaos, name: str, out: Path) -> dict:
    jobs = chaos.jobs(name)
    stats = chaos.system.sim.stats()
    succeeded = [j for j in jobs if j.status is JobStatus.SUCCESS]
    exported = export_batch(name, out)
    by_prompt = stats["submissions_by_prompt"]
    counts = {
        "items": len(jobs),
        "succeeded": len(succeeded),
        "with_files": len(list(out.glob("*.png"))),
        "missing": len(exported.missing),
        "dead_letters": len(chaos.system.dead_letters.list(limit=10_000)),
        "sent_once": sum(1 for n in range(ITEMS) if by_prompt.get(f"{PROMPT} number {n}", 0) == 1),
        "sent_twice": sum(1 for n in range(ITEMS) if by_prompt.get(f"{PROMPT} number {n}", 0) > 1),
        "jobs_created": stats["jobs_created"],
        "duplicate_submissions": stats["duplicate_submissions"],
        # Jobs the recovery had to send again: 0 when every message came back through the broker.
        "recovered": len(re.findall(r"recovered job_id=", chaos.system.logs())),
    }
    assert counts["items"] == ITEMS
    assert counts["missing"] == 0 and counts["with_files"] == ITEMS, "every item has its file"
    assert len({j.scenario_job_id for j in succeeded}) == len(succeeded)
    return counts


def _restored(worker: WorkerProcess) -> int:
    """Messages a stopped worker gave back to the broker, as its log says (Redis names them; RabbitMQ
    takes back unacknowledged ones when the connection closes, without a line)."""
    text = worker.log_path.read_text(errors="replace") if worker.log_path.exists() else ""
    return sum(int(n) for n in re.findall(r"Restoring (\d+) unacknowledged message", text))
