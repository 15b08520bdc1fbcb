"""A batch spends within its budget: what would pass it waits, paused, and goes on when it is raised."""

from __future__ import annotations

from pathlib import Path

from tests.batches.test_batch_runs import wait_for_batch
from tests.harness import wait_until
from worker import runtime
from worker.batches.manifest import load_manifest
from worker.batches.runs import batch_progress, set_batch_budget, submit_batch

ITEMS = 50
PROMPT = "a budgeted rune stone"


def write_budgeted_manifest(path: Path, name: str, budget_cu: float) -> Path:
    # flux.1-dev at 1024 x 1024, one sample, its default 28 steps: 10 creative units an item.
    lines = [f"batch: {name}", f"budget_cu: {budget_cu:g}", "defaults:", "  model: flux.1-dev", "items:"]
    for n in range(ITEMS):
        lines += [f"  - name: stone-{n:02d}", f'    prompt: "{PROMPT} {n}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def sent_to_scenario(system) -> int:
    prompts = system.sim.stats()["submissions_by_prompt"]
    return sum(count for prompt, count in prompts.items() if prompt.startswith(PROMPT))


def test_a_batch_of_ten_cu_items_with_a_budget_of_100_sends_exactly_ten_and_finishes_when_raised(system, tmp_path):
    manifest = load_manifest(write_budgeted_manifest(tmp_path / "stones.yaml", "budgeted-stones", 100))
    assert manifest.budget_cu == 100

    submit_batch(manifest)

    def settled_under_the_budget():
        progress = batch_progress("budgeted-stones")
        return progress if progress.succeeded == 10 and progress.paused == ITEMS - 10 else None

    held = wait_until(
        settled_under_the_budget,
        90,
        "10 items done and 40 paused",
        every_s=0.25,
        on_timeout=lambda: str(batch_progress("budgeted-stones").as_dict()),
    )
    assert sent_to_scenario(system) == 10
    assert held.batch.cu_committed == 100 and held.cu_left == 0
    assert "the batch's budget: 100 of 100 CU committed" in held.paused_reason
    assert held.as_dict()["paused"] == 40 and held.counts.get("dead", 0) == 0

    batch, resumed = set_batch_budget("budgeted-stones", 600)

    assert resumed == 40 and batch.budget_cu == 600
    done = wait_for_batch("budgeted-stones", timeout_s=120)
    assert done.succeeded == ITEMS and done.paused == 0
    assert sent_to_scenario(system) == ITEMS
    assert system.sim.stats()["duplicate_submissions"] == 0
    assert runtime.current().batches.get(batch.id).cu_committed == 500
    assert runtime.current().dead_letters.list(limit=10) == []
