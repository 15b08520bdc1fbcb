"""Counting what a job costs: database statements and transactions, Redis commands, Scenario requests.

Statements and transactions are counted by SQLAlchemy events on every engine of a process
(workers write their counts to a file after each task); Redis commands by the benchmark's
own Redis server (`INFO commandstats`, no MONITOR); requests by the simulator's stats.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import event
from sqlalchemy.engine import Engine

# The API's own endpoints; downloads come from signed URLs outside the request budget.
API_ENDPOINTS = (
    "submit",
    "get_job",
    "list_jobs",
    "cancel",
    "get_asset",
    "get_assets_bulk",
    "get_model",
    "upload_asset",
)


class StatementCounter:
    """Statements and transactions of every SQLAlchemy engine in this process, while `on`."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.on = True

    def attach(self) -> StatementCounter:
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "begin", self._transaction)
        return self

    def _statement(self, *_: Any, **__: Any) -> None:
        if self.on:
            self.counts["statements"] += 1

    def _transaction(self, *_: Any, **__: Any) -> None:
        if self.on:
            self.counts["transactions"] += 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Count only inside the block (the benchmark's own waiting reads are not the pipeline's)."""
        self.on = True
        try:
            yield
        finally:
            self.on = False


def worker_counts(folder: Path) -> Counter[str]:
    """The sum of what every worker process wrote to `folder` so far."""
    total: Counter[str] = Counter()
    for path in folder.glob("*.json"):
        try:
            total.update(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # a file being rewritten: its process writes it again after its next task
    return total


def dump_counts(counts: Counter[str], folder: str) -> None:
    path = Path(folder, f"{os.getpid()}.json")
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(counts))
    temporary.replace(path)


def redis_commands(url: str) -> Counter[str]:
    """Commands the Redis server has run since it started, by command name."""
    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return Counter({name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()})


def api_requests(stats: dict[str, Any]) -> int:
    requests = stats["requests"]
    return sum(sum(requests.get(endpoint, {}).values()) for endpoint in API_ENDPOINTS)
