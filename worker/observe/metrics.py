"""The counters and histograms every process keeps, and the small functions that count.

prometheus_client is imported on first use, not at import: a worker sets
PROMETHEUS_MULTIPROC_DIR before its pool forks (worker/observe/serve.py), and the library
picks in-memory or shared-file values when it is first imported. Counting is a local
increment (a write to a memory-mapped file in multiprocess mode): no round trip, scraped or not.
The gauges that describe the fleet are read at scrape time instead (worker/observe/fleet.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from worker.observe import labels
from worker.states import JobStatus

# Seconds from a job's enqueue to Scenario accepting it: fresh jobs in well under a second,
# batch items behind the plan's slots in minutes.
SUBMIT_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0)
# Seconds from Scenario ending a job to our row saying so: a poll's or a sweep's interval.
STATUS_LAG_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

COUNTERS = {
    "scenario_job_transitions_total": ("Changes of a job row's status, by the status it took", ("status", "lane")),
    "scenario_requests_total": ("Requests to Scenario, by route and HTTP status (or error)", ("route", "status")),
    "scenario_retries_total": ("Retries that spend a try (Scenario's errors, outages), by reason", ("reason",)),
    "scenario_waits_total": ("Retries that wait for the fleet (pause, budget, slot, breaker)", ("reason",)),
    "scenario_dead_letters_total": ("Jobs dead-lettered, by reason", ("reason",)),
    "scenario_creative_units_spent_total": ("Creative units Scenario charged for the jobs it accepted", ()),
    "scenario_webhook_hints_total": (
        "Scenario's webhook deliveries, by what came of them (a look sent, or why none was)",
        ("outcome",),
    ),
}
HISTOGRAMS = {
    "scenario_submit_seconds": ("Seconds from a job's enqueue to Scenario accepting its submit", SUBMIT_BUCKETS_S),
    "scenario_status_lag_seconds": ("Seconds from Scenario ending a job to its row recording it", STATUS_LAG_BUCKETS_S),
}


_lock = threading.Lock()
_metrics: dict[str, Any] | None = None


def _get() -> dict[str, Any]:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _build()
    return _metrics


def _build() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram

    made: dict[str, Any] = {}
    for name, (doc, names) in COUNTERS.items():
        # prometheus_client adds `_total` to a counter's samples itself.
        made[name] = Counter(name.removesuffix("_total"), doc, names)
    for name, (doc, buckets) in HISTOGRAMS.items():
        made[name] = Histogram(name, doc, buckets=buckets)
    return made


def ensure_registered() -> None:
    """Create every metric now (a scrape then lists each one, at zero before anything counts)."""
    _get()


def job_moved(status: JobStatus, batch_id: str | None, count: int = 1) -> None:
    """`count` job rows took `status`."""
    if count > 0:
        _get()["scenario_job_transitions_total"].labels(status.value, labels.lane_of_job(batch_id)).inc(count)


def scenario_answer(endpoint: str, method: str, path: str, status: int | None) -> None:
    """A request to Scenario came back with `status` (None: no answer)."""
    route = labels.route_of(endpoint, method, path)
    _get()["scenario_requests_total"].labels(route, labels.answer_label(status)).inc()


def retried(exc: BaseException | None) -> None:
    _get()["scenario_retries_total"].labels(labels.reason_of(exc)).inc()


def waited(exc: BaseException | None) -> None:
    _get()["scenario_waits_total"].labels(labels.reason_of(exc)).inc()


def dead_lettered(reason: str) -> None:
    _get()["scenario_dead_letters_total"].labels(reason).inc()


def creative_units_spent(units: float | None) -> None:
    if units is not None and units > 0:
        _get()["scenario_creative_units_spent_total"].inc(units)


def webhook_hint(outcome: str) -> None:
    """A webhook delivery was read: `outcome` is the look it sent or why it sent none."""
    _get()["scenario_webhook_hints_total"].labels(outcome).inc()


def submitted(created_at: datetime, now: datetime) -> None:
    """Scenario accepted a job enqueued at `created_at`."""
    _get()["scenario_submit_seconds"].observe(max(0.0, (now - created_at).total_seconds()))


def ended_on_scenario(scenario_job: Mapping[str, Any], now: datetime) -> None:
    """Our row took Scenario's final status now: how long after Scenario set it."""
    lag_s = labels.status_lag_s(scenario_job, now)
    if lag_s is not None:
        _get()["scenario_status_lag_seconds"].observe(lag_s)
