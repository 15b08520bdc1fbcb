"""What one benchmark run stands on: a private Redis, a throwaway PostgreSQL database, workers.

The Redis server is the benchmark's own (a free port, no disk), so its command counts
are the pipeline's alone, and bare Celery and the pipeline meet the same server.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


class StackError(RuntimeError):
    """Something the benchmark stands on did not start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of our own on a free port, without persistence; its URL (DB 0)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError("redis-server is not on the PATH; the benchmark runs its own Redis")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait(lambda: _pings(url), 10, "redis-server to answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """An empty PostgreSQL database, dropped afterwards; its SQLAlchemy URL."""
    import psycopg

    name = f"sw_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Workers:
    """`celery -A APP worker` in its own process group; `app` picks the Celery app module."""

    env: dict[str, str]
    log_path: Path
    app: str = "bench.instrumented"
    concurrency: int = 4
    proc: subprocess.Popen | None = field(default=None, init=False)

    def start(self, timeout_s: float = 60.0) -> Workers:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    self.app,
                    "worker",
                    f"--concurrency={self.concurrency}",
                    "--loglevel=INFO",  # as `make worker` runs it; "ready." is said at INFO
                    "--without-mingle",
                    "--without-gossip",
                    f"--hostname=bench-{secrets.token_hex(3)}@%h",
                ],
                cwd=ROOT,
                env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait(self._ready, timeout_s, f"the {self.app} worker to start")
        except BaseException:
            self.stop()  # in its own session: nothing else would ever stop it
            raise
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise StackError(f"the worker exited:\n{self.log_path.read_text(errors='replace')[-3000:]}")
        return b"ready." in self.log_path.read_bytes()

    def memory_mb(self) -> dict[str, float]:
        """The worker's memory, MB: RSS and PSS of all its processes together, and RSS of the
        main process and of its largest pool child.

        RSS counts the pages a forked child still shares with its parent once per process;
        PSS divides each shared page among its sharers, so its sum is what the worker holds.
        """
        if self.proc is None:
            return {"rss": 0.0, "pss": 0.0, "main_rss": 0.0, "child_rss": 0.0}
        children = _children(self.proc.pid)
        rss = {pid: _kb(pid, "status", "VmRSS:") / 1024 for pid in [self.proc.pid, *children]}
        return {
            "rss": sum(rss.values()),
            "pss": sum(_kb(pid, "smaps_rollup", "Pss:") for pid in rss) / 1024,
            "main_rss": rss[self.proc.pid],
            "child_rss": max((rss[pid] for pid in children), default=0.0),
        }

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _kb(pid: int, file: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _wait(check, timeout_s: float, what: str, every_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


@dataclass
class Stack:
    """One system for one measurement: its Redis, database, simulator, environment and workers."""

    redis_url: str
    database_url: str
    sim: object
    env: dict[str, str]
    workdir: Path
    counts_dir: Path
    workers: list[Workers] = field(default_factory=list)

    def start_workers(self, *, app: str = "bench.instrumented", concurrency: int = 4, **env: str) -> Workers:
        name = f"{app.rsplit('.', 1)[-1]}-{len(self.workers)}"
        workers = Workers({**self.env, **env}, self.workdir / f"{name}.log", app=app, concurrency=concurrency)
        self.workers.append(workers.start())
        return workers


@contextmanager
def stack(workdir: Path, sim_config: object, **env: str) -> Iterator[Stack]:
    """A private Redis, a throwaway database, the simulator; this process set up to enqueue into them."""
    from worker import runtime
    from worker.celery_app import app, celery_config
    from worker.db.migrate import upgrade
    from worker.settings import Settings
    from worker.simulator import Simulator

    workdir.mkdir(parents=True, exist_ok=True)
    counts_dir = workdir / "counts"
    counts_dir.mkdir(exist_ok=True)
    with private_redis() as redis_url, throwaway_postgres() as database_url, Simulator(sim_config, port=0) as sim:
        upgrade(database_url)
        full_env = {
            "CELERY_BROKER_URL": redis_url,
            "DATABASE_URL": database_url,
            "SCENARIO_API_URL": sim.api_url,
            "SCENARIO_API_KEY": sim_config.api_key,
            "SCENARIO_API_SECRET": sim_config.api_secret,
            "SCENARIO_LOG_LEVEL": "WARNING",
            "BENCH_COUNTS_DIR": str(counts_dir),
            "BENCH_SIMULATOR_URL": sim.api_url,
            "BENCH_SIMULATOR_KEY": sim_config.api_key,
            "BENCH_SIMULATOR_SECRET": sim_config.api_secret,
            **env,
        }
        settings = runtime.install(Settings.from_env(full_env)).settings
        app.conf.update(celery_config(settings))
        app._after_fork()  # drops pools made for an earlier stack's broker
        built = Stack(redis_url, database_url, sim, full_env, workdir, counts_dir)
        try:
            yield built
        finally:
            for workers in built.workers:
                workers.stop()
            runtime.current().close()
            runtime.forget()
