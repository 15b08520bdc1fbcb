"""Fetching a batch's finished images into its folder, many items per bulk URL lookup."""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from pathlib import Path

from worker import runtime, waits
from worker.batches.downloads import DownloadError, download_items, job_assets
from worker.celery_app import app
from worker.tasks.base import GenerationTask, event

# Items fetched by one run; the next run is scheduled for the rest, so other
# tasks get a worker slot in between.
ITEMS_PER_RUN = 50


@app.task(bind=True, base=GenerationTask, name="scenario.download_batch")
def download_batch(self: GenerationTask, batch_id: str, waited: int = 0, outage_since: float | None = None) -> None:
    rt = runtime.current()
    batch = rt.batches.get(batch_id)
    if batch is None or batch.out_dir is None:
        return
    token = uuid.uuid4().hex
    coord = rt.coordination
    if coord is not None and not coord.claim(f"download:{batch_id}", token, hold_s=300.0):
        return
    fetched = failed = 0
    try:
        waiting = rt.batches.awaiting_download(batch_id, limit=ITEMS_PER_RUN)
        if not waiting:
            return
        # Earlier versions of these items recorded the files they may keep or replace.
        history = rt.batches.item_history(batch_id, [job.item_name for job in waiting if job.item_name])
        results = download_items(rt.client, [job_assets(job, history) for job in waiting], Path(batch.out_dir))
        for job, (_, outcome) in zip(waiting, results, strict=True):
            if isinstance(outcome, DownloadError):
                failed = max(failed, _note_failure(batch_id, job.id))
                event(logging.WARNING, "download failed; fetched again later", job.id, self, error=str(outcome))
                continue
            rt.batches.record_files(job.id, [asdict(r) for r in outcome])
            _forget_failure(batch_id, job.id)
            fetched += 1
        event(logging.INFO, "downloaded", None, self, batch=batch.name, items=fetched)
    finally:
        if coord is not None:
            coord.release(f"download:{batch_id}", token)
            coord.disarm(f"download:{batch_id}")
    if failed:
        # Failed downloads are fetched again, later each time they fail.
        settings = rt.settings
        wait_s = waits.backoff_s(
            failed - 1, base_s=settings.retry_backoff_s, max_s=settings.retry_backoff_max_s, jitter=False
        )
        request_downloads(batch_id, countdown_s=wait_s)
    elif fetched and rt.batches.awaiting_download(batch_id, limit=1):
        request_downloads(batch_id)


def request_downloads(batch_id: str | None, *, countdown_s: float = 0.5) -> None:
    """Make sure a download run for the batch is coming."""
    if batch_id is None:
        return
    rt = runtime.current()
    if rt.coordination is None or rt.coordination.arm(f"download:{batch_id}"):
        download_batch.apply_async((batch_id,), countdown=countdown_s)


def _note_failure(batch_id: str, job_id: str) -> int:
    coord = runtime.current().coordination
    return 1 if coord is None else coord.note_download_failure(batch_id, job_id)


def _forget_failure(batch_id: str, job_id: str) -> None:
    coord = runtime.current().coordination
    if coord is not None:
        coord.forget_download_failure(batch_id, job_id)
