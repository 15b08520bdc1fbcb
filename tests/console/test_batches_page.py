"""The batches page, read by a signed-in person: every batch's counts from one aggregate."""

from __future__ import annotations

import html
import re

from tests.batches.test_batch_runs import wait_for_batch, write_manifest
from tests.console.conftest import VIEWER
from tests.console.test_purge import signed_in
from tests.deadletters.letters import quick, unique
from worker.batches.manifest import load_manifest
from worker.batches.runs import submit_batch


def test_each_batch_shows_its_finished_items_and_states(console, tmp_path):
    system = console.system
    names = []
    for size in (2, 3):
        name = unique(f"page-{size}").replace(" ", "-")
        prompt = quick(system, unique(f"a {name} icon"))
        submit_batch(load_manifest(write_manifest(tmp_path / f"{name}.yaml", name, size, prompt=prompt)))
        wait_for_batch(name)
        names.append((name, size))
    viewer = signed_in(console, VIEWER)

    page = viewer.get(f"{console.url}/batches", timeout=30)

    assert page.status_code == 200
    for name, size in names:
        row = re.search(rf'<tr data-batch="{re.escape(name)}">(.*?)</tr>', page.text, re.S)
        assert row is not None, name
        assert f'<span class="finished">{size}/{size}</span>' in row[1]
        assert f'<span class="state state-success">success {size}</span>' in row[1]


def test_a_batch_with_a_budget_shows_what_is_spent_in_flight_and_left_and_what_waits_paused(console, tmp_path):
    from tests.batches.test_budget import ITEMS, write_budgeted_manifest
    from tests.harness import wait_until
    from worker.batches.runs import batch_progress

    name = unique("page-budget").replace(" ", "-")
    # Items of 10 creative units under a budget of 20: two are sent, the rest wait, paused.
    submit_batch(load_manifest(write_budgeted_manifest(tmp_path / f"{name}.yaml", name, 20)))
    wait_until(
        lambda: (p := batch_progress(name)).succeeded == 2 and p.paused == ITEMS - 2,
        90,
        "two items done and the rest paused",
        on_timeout=lambda: str(batch_progress(name).as_dict()),
    )
    viewer = signed_in(console, VIEWER)

    page = viewer.get(f"{console.url}/batches/{name}", timeout=30)

    assert page.status_code == 200
    budget = re.search(r'<p id="budget">(.*?)</p>', page.text, re.S)
    assert budget is not None
    line = html.unescape(" ".join(budget[1].split()))
    assert "Budget 20.0 CU: 20.0 CU spent, 0.0 CU in flight, 0.0 CU left" in line
    assert f"<strong>{ITEMS - 2} paused</strong>: waiting for the batch's budget: 20 of 20 CU committed" in line
