"""The simulator as one object: start it, point a client at `api_url`, stop it."""

from __future__ import annotations

import random
import secrets
import threading
import time
from types import TracebackType
from typing import Any

from worker.simulator.api import Api
from worker.simulator.config import SimulatorConfig
from worker.simulator.control import Control
from worker.simulator.faults import Faults
from worker.simulator.pipeline import Dispatcher
from worker.simulator.server import HttpServer
from worker.simulator.stats import Stats, peak_overlap
from worker.simulator.webhooks import Endpoint, Webhooks
from worker.simulator.world import World


class Simulator:
    """A Scenario API on a real socket, serving from a background thread."""

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SimulatorConfig()
        self.host = host
        self.requested_port = port
        seed = self.config.seed if self.config.seed is not None else random.SystemRandom().randrange(2**31)
        self.faults = Faults(seed, self.config.rates())
        self.world = World(max_jobs=self.config.max_jobs, credits=self.config.credits)
        self._stats = Stats(self.config.max_rate_limited_records)
        self._stopping = threading.Event()
        self._api = Api(self.config, self.world, self.faults, self._stats, secrets.token_bytes(32))
        self._dispatcher = Dispatcher(self.config, self._api, self.faults, self._stats, sleep=self._stopping.wait)
        self.webhooks = Webhooks(self.world, self.faults, self._stats)
        self.world.listener = self.webhooks.job_changed
        if self.config.webhook_url:
            self.webhooks.register(self.config.webhook_url, self.config.webhook_secret or None)
        self._control = Control(self.faults, self.stats, self.reset_stats, self.create_job, self.webhooks)
        self._server: HttpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Simulator:
        """Bind the port and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        self._server = HttpServer(
            (self.host, self.requested_port), self._dispatcher, self._control, self.config.verbose
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="scenario-simulator", daemon=True
        )
        self._thread.start()
        self.webhooks.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake slow and held answers, and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self.webhooks.stop()
        self.faults.release_all()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The root, e.g. http://127.0.0.1:8765 (stats live under /_sim)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The API's base URL, e.g. http://127.0.0.1:8765/v1."""
        return f"{self.url}/v1"

    def stats(self) -> dict[str, Any]:
        """The same JSON as GET /_sim/stats."""
        now = time.time()
        by_owner: dict[str, list[tuple[float, float]]] = {}
        for owner, start, end in self.world.running_intervals(self._stats.reset_at, now):
            by_owner.setdefault(owner, []).append((start, end))
        peak = max((peak_overlap(intervals) for intervals in by_owner.values()), default=0)
        return self._stats.snapshot(self.world.count_by_status(now), running_peak=peak, billing=self.world.billing(now))

    def create_job(
        self,
        model_id: str,
        inputs: dict[str, Any] | None = None,
        *,
        api_key: str | None = None,
        duration_s: float | None = None,
    ) -> dict[str, Any]:
        """A job of the configured key's team, as if another program had submitted it; the job's JSON.

        `api_key` names that other program (its author id); raises ApiError on bad inputs.
        """
        return self._api.plant_job(model_id, inputs or {}, api_key=api_key, duration_s=duration_s, now=time.time())

    def add_webhook(self, url: str, secret: str | None = None, events: list[str] | None = None) -> Endpoint:
        """Send every job's end event (inference.completed / failed / cancelled) to `url`, signed with
        `secret` (a fresh `whsec_` one when None: read it from the returned endpoint)."""
        return self.webhooks.register(url, secret, events)

    def reset_stats(self) -> None:
        self._stats.reset()
