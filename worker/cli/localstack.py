"""The whole system on one machine: the simulator (or the real service), a broker and a worker.

Used by the demo and the benchmark; everything it starts it also stops.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from worker import runtime
from worker.settings import Settings, mask_url_password


def redis_answers(url: str, timeout_s: float = 1.0) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "localhost", parts.port or 6379), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass
class WorkerProcess:
    """`celery -A worker worker` in its own process group, its output in a log file."""

    env: dict[str, str]
    log_path: Path
    concurrency: int = 4
    name: str = "local"
    loglevel: str = "INFO"
    # The lanes it serves (`-Q`); empty: every lane.
    queues: tuple[str, ...] = ()
    # The interpreter that runs it (another environment's, say) and its working directory.
    python: str = sys.executable
    cwd: Path | None = None
    proc: subprocess.Popen | None = field(default=None, init=False)

    def start(self, timeout_s: float = 60.0) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "celery",
                    "-A",
                    "worker",
                    "worker",
                    f"--concurrency={self.concurrency}",
                    f"--loglevel={self.loglevel}",
                    "--without-mingle",
                    "--without-gossip",
                    f"--hostname={self.name}@%h",
                    *([f"--queues={','.join(self.queues)}"] if self.queues else []),
                ],
                env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while b"ready." not in self.log_path.read_bytes()[offset:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker {self.name} did not start:\n{self.tail()}")
            time.sleep(0.1)
        return self

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the whole worker at once: the main process and every pool child."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> None:
        """Begin a warm shutdown: SIGTERM to the main process alone, as a container stop sends it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def exited_within(self, timeout_s: float) -> bool:
        """Whether the worker is gone within `timeout_s`; one that is not is left running."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout_s: float = 20.0) -> bool:
        """A warm shutdown: the main process lets running tasks finish, then stops its children.

        True when it exited within `timeout_s`; else it is killed.
        """
        if self.proc is None or self.proc.poll() is not None:
            return True
        self.terminate()
        if self.exited_within(timeout_s):
            return True
        self.kill()
        return False


def local_settings(env: dict[str, str], *, workdir: Path, say) -> tuple[Settings, dict[str, str]]:
    """Settings for a local run, with the embedded broker when Redis does not answer."""
    settings = Settings.from_env(env)
    if settings.uses_redis and not redis_answers(settings.broker_url):
        folder = workdir / "broker"
        say(
            f"Redis does not answer at {mask_url_password(settings.broker_url)}; "
            f"using the embedded broker in {folder} instead"
        )
        env = {**env, "CELERY_BROKER_URL": f"filesystem://{folder.resolve()}"}
        settings = Settings.from_env(env)
    return settings, env


@contextmanager
def local_worker(env: dict[str, str], *, log_path: Path, concurrency: int) -> Iterator[Settings]:
    """This process set up from `env` (runtime, schema) and a worker started on it; all undone afterwards."""
    from worker.db.migrate import upgrade

    settings = runtime.install(Settings.from_env(env)).settings
    # Celery reads this variable itself, ahead of its configuration.
    os.environ["CELERY_BROKER_URL"] = settings.broker_url
    upgrade(settings.database_url, schema=settings.db_schema)
    worker = WorkerProcess(env, log_path, concurrency=concurrency)
    try:
        worker.start()
        yield settings
    finally:
        worker.stop()
        runtime.current().close()
        runtime.forget()


@contextmanager
def local_console(env: dict[str, str], *, log_path: Path, timeout_s: float = 30.0) -> Iterator[str]:
    """`scenario-worker console` in development mode on a free port of 127.0.0.1 (one process, a
    made-up login), on the same database and broker as `env`; its URL. Stopped afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "worker.cli.main", "console", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            env={**os.environ, **env, "CONSOLE_DEV_MODE": "true", "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not _listens(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the console did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
