"""Serving the metrics: a worker's own HTTP endpoint, and the registry the console's `/metrics` reads.

A prefork worker's pool processes each count into files of PROMETHEUS_MULTIPROC_DIR, which
the main process adds up when scraped. Without one set by the operator, the worker makes a
private directory before its pool forks and removes it when it stops.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from worker.observe import metrics
from worker.observe.fleet import FleetCollector
from worker.settings import Settings

log = logging.getLogger("worker.observe")

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Every interface: the scraper runs elsewhere (a Prometheus pod, another container).
LISTEN_ADDR = "0.0.0.0"

_private_dir: str | None = None


def prepare_worker(settings: Settings) -> None:
    """In the main process, before the pool forks: the directory the processes count into, and the
    metrics made once here, so no task pays for importing prometheus_client."""
    global _private_dir
    if settings.metrics_port and not os.environ.get(MULTIPROC_DIR_ENV):
        _private_dir = tempfile.mkdtemp(prefix="scenario-metrics-")
        os.environ[MULTIPROC_DIR_ENV] = _private_dir
        _use_shared_files()
    metrics.ensure_registered()


def _use_shared_files() -> None:
    """prometheus_client picks in-memory or shared-file values when first imported, and the celery
    command may have imported it already (Flower's command plugin does): pick again, now that the
    directory is set and before any of our metrics exists."""
    import prometheus_client.values as values

    values.ValueClass = values.get_value_class()


def serve_worker(settings: Settings) -> None:
    """Serve `/metrics` on SCENARIO_METRICS_PORT from the main process (a thread of its own)."""
    if not settings.metrics_port:
        return
    from prometheus_client import start_http_server

    start_http_server(settings.metrics_port, addr=LISTEN_ADDR, registry=registry(settings))
    log.info("metrics on port %d, counted in %s", settings.metrics_port, os.environ.get(MULTIPROC_DIR_ENV))


def process_exited() -> None:
    """A pool process is stopping: its live gauges must not be added up any more."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


def worker_stopped() -> None:
    """The worker is stopping: remove the directory it made for itself (an operator's is left alone)."""
    global _private_dir
    if _private_dir is not None:
        shutil.rmtree(_private_dir, ignore_errors=True)
        _private_dir = None


def registry(settings: Settings) -> Any:
    """Every counter of this host's processes (or of this process alone), and the fleet's gauges."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    metrics.ensure_registered()
    combined = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_DIR_ENV):
        multiprocess.MultiProcessCollector(combined)
    else:
        combined.register(_Own(REGISTRY))
    combined.register(FleetCollector(settings))
    return combined


class _Own:
    """This process's default registry, seen as one collector of another registry."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        return self._source.collect()
