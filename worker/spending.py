"""What a job is expected to cost, and whether it still fits the budgets that apply to it.

The estimate is Scenario's dry run (HTTP 269: the price, nothing started). Jobs that differ
only in their prompt or seed cost the same, so one dry run prices them all for a while.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from worker import runtime
from worker.generation import inputs_of

# Inputs that change what is drawn, never its price.
_PRICE_NEUTRAL = frozenset({"seed", "prompt", "negativePrompt"})
# How long a dry run's price is trusted for look-alike jobs.
ESTIMATE_TTL_S = 600.0
# How long a batch's budget read from the database is trusted by a worker (a raised budget is
# seen within this; the conditional UPDATE decides either way).
BATCH_BUDGET_TTL_S = 5.0

_lock = threading.Lock()
_estimates: dict[str, tuple[float, float]] = {}
_batch_budgets: dict[str, tuple[float | None, float]] = {}


def price_fingerprint(model_id: str, inputs: Mapping[str, Any]) -> str:
    """Equal for two generations Scenario prices the same."""
    priced = {key: value for key, value in inputs.items() if key not in _PRICE_NEUTRAL}
    return json.dumps([model_id, priced], sort_keys=True, default=str)


def dry_run_cost(model_id: str, inputs: Mapping[str, Any]) -> float:
    """Scenario's price for a generation, by a dry run on the route the settings pick."""
    rt = runtime.current()
    if rt.settings.submit_route == "txt2img":
        return rt.client.estimate_cost({"modelId": model_id, **inputs})
    return rt.client.estimate_cost(model_id=model_id, inputs=dict(inputs))


def estimate_cu(model_id: str, params: Mapping[str, Any]) -> float:
    """The expected price of sending these params, from a recent dry run of a look-alike if any."""
    inputs = inputs_of(dict(params))
    key = price_fingerprint(model_id, inputs)
    now = time.monotonic()
    with _lock:
        known = _estimates.get(key)
    if known is not None and now - known[1] < ESTIMATE_TTL_S:
        return known[0]
    cost = dry_run_cost(model_id, inputs)
    with _lock:
        _estimates[key] = (cost, now)
    return cost


def batch_budget_cu(batch_id: str | None) -> float | None:
    """The batch's budget in creative units (None: none), as read at most a few seconds ago."""
    if batch_id is None:
        return None
    now = time.monotonic()
    with _lock:
        known = _batch_budgets.get(batch_id)
    if known is not None and now - known[1] < BATCH_BUDGET_TTL_S:
        return known[0]
    batch = runtime.current().batches.get(batch_id)
    budget = batch.budget_cu if batch is not None else None
    with _lock:
        _batch_budgets[batch_id] = (budget, now)
    return budget


def forget() -> None:
    """Drop what this process remembers (a budget was raised here, or in tests)."""
    with _lock:
        _estimates.clear()
        _batch_budgets.clear()


# Paused jobs sent again by one call, at most: each finds out on its own whether it fits now.
RESUME_PER_CALL = 1_000


def resume_paused(*, batch_id: str | None = None, limit: int = RESUME_PER_CALL) -> list[str]:
    """Send again the jobs paused for a budget that now has room; returns their ids.

    A job that still does not fit pauses again with the figures of the moment, so this is safe
    to call whenever a budget may have grown: a raised budget, a new UTC day.
    """
    from worker.dispatch import send_submit_again

    rt = runtime.current()
    forget()
    daily_cu = rt.settings.daily_cu_budget
    if daily_cu and rt.budgets.day_committed() >= daily_cu:
        return []
    sent: list[str] = []
    full: dict[str, bool] = {}
    for job in rt.budgets.paused(batch_id=batch_id, limit=limit):
        if job.batch_id is not None and job.batch_id not in full:
            batch = rt.batches.get(job.batch_id)
            full[job.batch_id] = (
                batch is not None and batch.budget_cu is not None and batch.cu_committed >= batch.budget_cu
            )
        if job.batch_id is not None and full[job.batch_id]:
            continue
        if send_submit_again(job.id):
            sent.append(job.id)
    return sent
