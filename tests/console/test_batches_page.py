"""The batches page, read by a signed-in person: every batch's counts from one aggregate."""

from __future__ import annotations

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
