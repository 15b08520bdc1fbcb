"""Reconciliation: no Scenario job made under our key is left running unseen.

A submit whose answer was lost and never found, a sender whose claim lapsed, a crash between
the request and its record: each can leave a Scenario job that no row holds. This pass lists
the jobs Scenario made in a recent window and gives each such orphan to the row it was made
for (same inputs, seed included) when that row has none yet; an orphan whose row already holds
another Scenario job, or has ended, is canceled on Scenario. A job no row asked for (the key
used elsewhere) is left alone and counted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from worker import runtime
from worker.db.jobs import AdoptOutcome, JobView
from worker.dispatch import send_poll
from worker.generation import inputs_of
from worker.lost_answers import created_since
from worker.retrying import same_generation
from worker.scenario.errors import ScenarioError
from worker.states import JobStatus

log = logging.getLogger("worker.reconcile")

# Rows made this long before the window opens may still have sent into it (queued, then sent).
ROW_LOOKBACK_S = 86_400.0
ROWS_AT_MOST = 100_000


@dataclass
class ReconcileReport:
    """What one pass saw and did; ids are Scenario's."""

    listed: int = 0
    adopted: list[tuple[str, str]] = field(default_factory=list)  # (job id, Scenario job id)
    canceled: list[str] = field(default_factory=list)
    not_ours: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (Scenario job id, why)

    def as_dict(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "adopted": [{"job_id": j, "scenario_job_id": s} for j, s in self.adopted],
            "canceled": self.canceled,
            "not_ours": self.not_ours,
            "failed": [{"scenario_job_id": s, "error": e} for s, e in self.failed],
        }


def reconcile(*, window_s: float = 3600.0, dry_run: bool = False) -> ReconcileReport:
    """Look at every Scenario job made in the last `window_s` that no row holds, and settle it."""
    rt = runtime.current()
    now = datetime.now(timezone.utc)
    since = now - timedelta(seconds=window_s)
    listed = list(created_since(since))
    report = ReconcileReport(listed=len(listed))
    held = rt.jobs.held_scenario_jobs(str(j.get("jobId")) for j in listed)
    orphans = [j for j in listed if j.get("jobId") not in held]
    if not orphans:
        return report
    rows = _rows_by_prompt(rt.jobs.search(since=since - timedelta(seconds=ROW_LOOKBACK_S), limit=ROWS_AT_MOST))
    for orphan in orphans:
        row = _row_for(orphan, rows)
        if row is None:
            report.not_ours.append(str(orphan["jobId"]))
        elif not dry_run:
            _settle(orphan, row, report)
        elif row.scenario_job_id is None and not row.is_final:
            report.adopted.append((row.id, str(orphan["jobId"])))
        else:
            report.canceled.append(str(orphan["jobId"]))
    if report.adopted or report.canceled:
        log.warning(
            "reconciled %d orphaned Scenario jobs: %d adopted, %d canceled",
            len(report.adopted) + len(report.canceled),
            len(report.adopted),
            len(report.canceled),
        )
    return report


def _settle(orphan: dict[str, Any], row: JobView, report: ReconcileReport) -> None:
    rt = runtime.current()
    scenario_job_id = str(orphan["jobId"])
    if row.scenario_job_id is None and not row.is_final:
        if rt.jobs.adopt(row.id, orphan) is AdoptOutcome.ADOPTED:
            send_poll(row.id, (rt.jobs.get(row.id) or row).poll_seq)
            report.adopted.append((row.id, scenario_job_id))
            return
    status = JobStatus.from_scenario(str(orphan.get("status")))
    if status is not None and status.is_final:
        return  # nothing runs any more; its cost is already spent
    try:
        rt.client.cancel_job(scenario_job_id)
    except ScenarioError as exc:
        report.failed.append((scenario_job_id, str(exc)))
        return
    report.canceled.append(scenario_job_id)


def _rows_by_prompt(rows: Iterable[JobView]) -> dict[Any, list[JobView]]:
    by_prompt: dict[Any, list[JobView]] = defaultdict(list)
    for row in rows:
        by_prompt[row.params.get("prompt")].append(row)
    return by_prompt


def _row_for(orphan: dict[str, Any], rows: dict[Any, list[JobView]]) -> JobView | None:
    """The row this Scenario job was made for: one with exactly its inputs, an unsent one first."""
    seen = (orphan.get("metadata") or {}).get("input") or {}
    matching = [
        row
        for row in rows.get(seen.get("prompt"), [])
        if same_generation(inputs_of(row.params), seen, model_id=row.model_id)
    ]
    matching.sort(key=lambda row: (row.scenario_job_id is not None, row.is_final))
    return matching[0] if matching else None
