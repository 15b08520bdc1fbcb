"""Flower watching the running system; one backend is enough, the point is Flower."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.harness import FlowerProcess, System, wait_until
from tests.services import throwaway_postgres


@pytest.fixture(scope="module")
def backend_url() -> Iterator[str]:
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(scope="module")
def flower(system: System) -> Iterator[FlowerProcess]:
    """Flower on a free port, already receiving the worker's events."""
    process = FlowerProcess(system.env, system.workdir / "flower.log")
    try:
        process.start()
        # Celery events are fanned out, never queued: what is sent before Flower
        # listens is lost to it. A worker heartbeat in Flower's state proves
        # that its event receiver is subscribed before any job is sent.
        wait_until(
            lambda: any(alive for alive in workers_status(process).values()),
            15,
            "Flower to hear a worker heartbeat",
            every_s=0.3,
            on_timeout=process.tail,
        )
        yield process
    finally:
        process.stop()


def workers_status(flower: FlowerProcess) -> dict[str, bool]:
    """Worker name -> alive, from the events Flower has received (no broadcast)."""
    answer = requests.get(f"{flower.url}/api/workers", params={"status": "true"}, auth=flower.auth, timeout=5)
    answer.raise_for_status()
    return answer.json()
