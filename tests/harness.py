"""A real system for tests: the simulator, a database, a Redis broker and Celery workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from worker import runtime
from worker.cli.localstack import WorkerProcess
from worker.db.jobs import JobView
from worker.settings import Settings
from worker.states import JobStatus

ROOT = Path(__file__).resolve().parents[1]

# Quick settings so the suite runs fast; every countdown stays well under the
# visibility timeout, as in production.
FAST_ENV = {
    "SCENARIO_POLL_INITIAL_S": "0.2",
    "SCENARIO_POLL_MAX_S": "1",
    "SCENARIO_POLL_GROWTH": "1.5",
    "SCENARIO_RETRY_BACKOFF_S": "1",
    "SCENARIO_RETRY_BACKOFF_MAX_S": "2",
    "SCENARIO_MAX_RETRIES": "3",
    "SCENARIO_VISIBILITY_TIMEOUT_S": "6",
    "SCENARIO_JOB_DEADLINE_S": "30",
    "SCENARIO_CONNECT_TIMEOUT_S": "2",
    "SCENARIO_READ_TIMEOUT_S": "3",
    # A lost answer is looked for 1 s after the request path's horizon, not a minute.
    "SCENARIO_LATE_SUBMIT_S": "1",
    # Each test decides what it lists on Scenario: the periodic reconciliation is tested on its own.
    "SCENARIO_RECONCILE_INTERVAL_S": "0",
    "SCENARIO_SWEEP_INTERVAL_S": "0.5",
    "SCENARIO_SWEEP_STALE_AFTER_S": "2",
    "SCENARIO_AUTH_PAUSE_S": "2",
    "SCENARIO_LOG_LEVEL": "DEBUG",
}


def system_env(
    *, broker_url: str, database_url: str, api_url: str, key: str, secret: str, **extra: str
) -> dict[str, str]:
    env = {
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_URL": database_url,
        "SCENARIO_API_URL": api_url,
        "SCENARIO_API_KEY": key,
        "SCENARIO_API_SECRET": secret,
        **FAST_ENV,
    }
    env.update(extra)
    return env


@dataclass
class FlowerProcess:
    """A `celery -A worker flower` on a free local port, behind HTTP basic auth."""

    env: dict[str, str]
    log_path: Path
    user: str = "flower"
    password: str = "flower-test-pass"
    port: int = 0
    proc: subprocess.Popen | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    def start(self, timeout_s: float = 30.0) -> FlowerProcess:
        self.port = self.port or free_port()
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker",
                "flower",
                f"--port={self.port}",
                "--address=127.0.0.1",
                f"--basic-auth={self.user}:{self.password}",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # /healthcheck needs no credentials: it says only that Flower's web server is up.
        wait_until(self._answers, timeout_s, "Flower to answer", every_s=0.2, on_timeout=self.tail)
        return self

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"Flower exited with {self.proc.returncode}\n{self.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"GET /healthcheck HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                return conn.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()


def end_process(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM, then SIGKILL once `grace_s` has passed: a server's graceful stop is slow on a loaded machine."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    check: Callable[[], Any],
    timeout_s: float,
    what: str,
    *,
    every_s: float = 0.1,
    on_timeout: Callable[[], str] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = ("\n" + on_timeout()) if on_timeout else ""
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}{extra}")
        time.sleep(every_s)


@dataclass
class System:
    """One running system: what the tests drive and inspect."""

    settings: Settings
    sim: Any
    env: dict[str, str]
    workdir: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def jobs(self):
        return runtime.current().jobs

    @property
    def dead_letters(self):
        return runtime.current().dead_letters

    def batches_named(self, name: str):
        return runtime.current().batches.find(name)

    def batch_jobs(self, name: str):
        batch = self.batches_named(name)
        return [] if batch is None else runtime.current().batches.jobs(batch.id)

    def start_worker(
        self, *, concurrency: int = 2, name: str | None = None, queues: tuple[str, ...] = (), **env: str
    ) -> WorkerProcess:
        name = name or f"w{len(self.workers) + 1}"
        merged = {**self.env, **env}
        worker = WorkerProcess(
            merged,
            self.workdir / f"{name}.log",
            concurrency,
            name,
            loglevel=merged.get("SCENARIO_LOG_LEVEL", "INFO"),
            queues=queues,
        )
        self.workers.append(worker)
        return worker.start()

    def logs(self) -> str:
        return "\n".join(w.log_path.read_text(errors="replace") for w in self.workers if w.log_path.exists())

    def wait_for_log(self, text: str, *, count: int = 1, timeout_s: float = 15.0) -> str:
        """The logs once `text` is in them `count` times; fails if it never is.

        A worker writes its line after the row change a test waited on, so a log line is waited for too.
        """

        def seen() -> str | None:
            logs = self.logs()
            return logs if logs.count(text) >= count else None

        return wait_until(
            seen,
            timeout_s,
            f"{text!r} {count} time(s) in the logs",
            on_timeout=lambda: self.logs()[-3000:],
        )

    def wait_for(self, job_id: str, statuses: Iterable[JobStatus] | None = None, timeout_s: float = 30.0) -> JobView:
        wanted = set(statuses) if statuses is not None else None

        def done() -> JobView | None:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            if wanted is None:
                return job if job.status.is_final else None
            return job if job.status in wanted else None

        return wait_until(
            done,
            timeout_s,
            f"job {job_id} to reach {wanted or 'a final state'}",
            on_timeout=lambda: f"job now: {self.jobs.get(job_id)}\n{self.workers[-1].tail() if self.workers else ''}",
        )

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()


def flush_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def point_the_app_at(settings: Settings) -> None:
    """Make this process's Celery app send to the settings' broker, whichever an earlier test used."""
    from worker.celery_app import send_to

    send_to(settings)


@contextmanager
def running_system(
    *,
    database_url: str,
    broker_url: str,
    workdir: Path,
    sim_config: Any,
    workers: Iterable[str] = ("w1",),
    redis_url: str | None = None,
    **env: str,
) -> Iterator[System]:
    """The simulator, a migrated database, a clean broker and workers; all stopped afterwards.

    `redis_url` holds the fleet's shared state (default: the broker, when it is Redis); it is
    flushed before and after, and a RabbitMQ broker is expected to be a fresh vhost.
    """
    from worker.db.migrate import upgrade
    from worker.simulator import Simulator

    upgrade(database_url)
    fleet_redis = redis_url or (broker_url if broker_url.startswith("redis") else None)
    if fleet_redis:
        flush_redis(fleet_redis)
    if redis_url:
        env = {"SCENARIO_REDIS_URL": redis_url, **env}
    with Simulator(sim_config, port=0) as sim:
        full_env = system_env(
            broker_url=broker_url,
            database_url=database_url,
            api_url=sim.api_url,
            key=sim_config.api_key,
            secret=sim_config.api_secret,
            **env,
        )
        settings = Settings.from_env(full_env)
        runtime.install(settings)
        point_the_app_at(settings)
        system = System(settings=settings, sim=sim, env=full_env, workdir=workdir)
        try:
            for name in workers:
                system.start_worker(name=name)
            yield system
        finally:
            system.stop()
            if fleet_redis:
                flush_redis(fleet_redis)
            runtime.current().close()
            runtime.forget()
