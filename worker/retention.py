"""Retention: old final jobs purged with their history, batch items and dead letters; their images only when asked.

Shared by `scenario-worker jobs purge` and the console. Rows go a chunk per transaction,
so a table of a million rows is never locked as a whole and the workers go on meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from worker import runtime
from worker.db.retention import PurgedJob, RetentionRepository

DEFAULT_CHUNK = 1_000


@dataclass(frozen=True)
class PurgeReport:
    """What a purge deleted, or with `dry_run`, what it would delete (files are not looked at then)."""

    before: datetime
    jobs: int
    dead_letters: int = 0
    batch_items: int = 0
    files_deleted: int = 0
    # Recorded files left on disk although asked to delete them: changed since, or another job's now.
    files_kept: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before.isoformat(),
            "jobs": self.jobs,
            "dead_letters": self.dead_letters,
            "batch_items": self.batch_items,
            "files_deleted": self.files_deleted,
            "files_kept": self.files_kept,
            "dry_run": self.dry_run,
        }


def check_cutoff(before: datetime, now: datetime) -> None:
    """ValueError naming `before` unless it is an aware moment in the past."""
    if before.tzinfo is None:
        raise ValueError(f"before: {before.isoformat()} has no time zone; pass an aware datetime")
    if before > now:
        raise ValueError(f"before: {before.isoformat()} is in the future; only jobs that ended before a past moment go")


def check_chunk(chunk: int) -> None:
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk: must be a whole number of at least 1, got {chunk!r}")


def purge_jobs(
    before: datetime,
    *,
    batch_id: str | None = None,
    with_files: bool = False,
    dry_run: bool = False,
    chunk: int = DEFAULT_CHUNK,
    on_progress: Callable[[int, int], None] | None = None,
) -> PurgeReport:
    """Delete the final jobs that ended before `before` (of one batch, with `batch_id`), chunk by chunk.

    Queued and running jobs, and any job a sender holds a claim on, stay. Images written
    for a deleted batch job are removed only `with_files`, and only while they hold the
    bytes recorded for it and no job left in the table records the same file.
    `on_progress(deleted, total)` is told after each chunk; `total` was counted at the start.
    """
    check_cutoff(before, datetime.now(timezone.utc))
    check_chunk(chunk)
    retention = RetentionRepository(runtime.current().database)
    counted = retention.count(before, batch_id=batch_id)
    total = counted.jobs
    if dry_run:
        return PurgeReport(before, total, counted.dead_letters, counted.batch_items, dry_run=True)
    jobs = letters = items = deleted_files = kept_files = 0
    while True:
        done = retention.delete_chunk(before, batch_id=batch_id, limit=chunk)
        if not done.jobs:
            break
        jobs, letters, items = jobs + len(done.jobs), letters + done.dead_letters, items + done.batch_items
        if with_files:
            deleted, kept = _delete_files(retention, done.jobs)
            deleted_files, kept_files = deleted_files + deleted, kept_files + kept
        if on_progress is not None:
            # Jobs that ended meanwhile may join in: the total grows rather than be passed.
            on_progress(jobs, max(total, jobs))
    return PurgeReport(before, jobs, letters, items, deleted_files, kept_files)


def _delete_files(retention: RetentionRepository, jobs: Sequence[PurgedJob]) -> tuple[int, int]:
    """Remove the files recorded for these deleted jobs; (deleted, kept)."""
    deleted = kept = 0
    by_batch: dict[str, list[PurgedJob]] = {}
    for job in jobs:
        if job.batch_id is not None and job.out_dir and job.files:
            by_batch.setdefault(job.batch_id, []).append(job)
    for batch_id, batch_jobs in by_batch.items():
        names = [job.item_name for job in batch_jobs if job.item_name]
        # A newer version of an item writes the same file names: those files are its own now.
        still_recorded = retention.files_still_recorded(batch_id, names)
        for job in batch_jobs:
            folder = Path(job.out_dir or "")
            for record in job.files:
                if not isinstance(record, dict):
                    continue
                outcome = _remove_recorded(folder, record, still_recorded)
                deleted += outcome is True
                kept += outcome is False
    return deleted, kept


def _remove_recorded(folder: Path, record: dict[str, Any], still_recorded: set[str]) -> bool | None:
    """Remove one recorded file if it is a plain name in the folder, holds the recorded bytes and is no one else's.

    True when removed, False when left in place, None when there was no such file to remove.
    """
    name = record.get("file")
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        return None
    path = folder / name
    if not path.is_file() and not path.is_symlink():
        return None
    if name in still_recorded or path.is_symlink() or path.resolve().parent != folder.resolve():
        return False
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if hashlib.sha256(data).hexdigest() != record.get("sha256"):
        return False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True
