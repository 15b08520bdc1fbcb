"""The recovery's question to the recent batches: which of them still have images to fetch."""

from __future__ import annotations

from pathlib import Path

from tests.batches.test_batch_runs import wait_for_batch, write_manifest
from tests.harness import wait_until
from worker import runtime
from worker.batches.manifest import load_manifest
from worker.batches.runs import batch_progress, submit_batch
from worker.tasks.recovery import batches_awaiting_download


def test_a_batch_is_asked_for_again_only_while_one_of_its_images_is_not_on_disk(system, tmp_path: Path):
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", "rearmed", 3, prompt="a rearmed lantern"))
    submit_batch(manifest, out_dir=tmp_path / "out")
    progress = wait_for_batch("rearmed")
    wait_until(lambda: batch_progress("rearmed").downloaded == 3, 60, "the three images on disk")
    batch_id = progress.batch.id

    assert batch_id not in batches_awaiting_download()

    rt = runtime.current()
    lost = rt.batches.current_jobs(batch_id)["item-001"]
    rt.batches.record_files(lost.id, [])  # as if the download run died with its worker

    assert batches_awaiting_download().count(batch_id) == 1
    assert batch_progress("rearmed").downloaded == 2
