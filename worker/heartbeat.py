"""A worker's heartbeat file: proof of life that needs neither the broker nor Celery's remote control.

The worker's main process writes the file from a timer of its consumer's own loop, so the
beats stop when the consumer stops or hangs. `scenario-worker health --worker` (a
Kubernetes exec probe) reads it and calls the worker alive while the last beat is fresh.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import bootsteps

from worker import runtime

log = logging.getLogger("worker.heartbeat")

DEFAULT_MAX_AGE_S = 60.0


@dataclass(frozen=True)
class Beat:
    """The last beat written: when, by which worker and process."""

    at: float
    hostname: str
    pid: int


def write_beat(path: str | Path, hostname: str, *, now: float | None = None) -> Beat:
    """Write a beat to `path` at once (a reader never sees half a file)."""
    beat = Beat(time.time() if now is None else now, hostname, os.getpid())
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump({"time": beat.at, "hostname": beat.hostname, "pid": beat.pid}, out)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return beat


def read_beat(path: str | Path) -> Beat | None:
    """The beat in `path`, or None when there is none (no file, or not a beat)."""
    try:
        data = json.loads(Path(path).read_text())
        return Beat(float(data["time"]), str(data["hostname"]), int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def judge(beat: Beat | None, *, now: float, max_age_s: float) -> tuple[bool, str]:
    """Whether a worker with this last beat is alive, and why, in words."""
    if beat is None:
        return False, "no heartbeat: the worker never started, or its file is elsewhere"
    age_s = now - beat.at
    if age_s > max_age_s:
        return False, f"last beat {age_s:.0f} s ago (more than {max_age_s:g} s) from {beat.hostname} pid {beat.pid}"
    return True, f"last beat {max(age_s, 0.0):.0f} s ago from {beat.hostname} pid {beat.pid}"


class HeartbeatStep(bootsteps.StartStopStep):
    """A consumer step: beat at its start, then every SCENARIO_HEARTBEAT_INTERVAL_S from its timer."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._timer_ref: Any = None
        self._path = ""
        self._hostname = socket.gethostname()

    def start(self, parent: Any) -> None:
        settings = runtime.current_settings()
        self._path = settings.heartbeat_path
        self._hostname = getattr(parent, "hostname", None) or self._hostname
        self._beat()
        self._timer_ref = parent.timer.call_repeatedly(settings.heartbeat_interval_s, self._beat)

    def stop(self, parent: Any) -> None:
        if self._timer_ref is not None:
            self._timer_ref.cancel()
            self._timer_ref = None

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)
        # A worker that stopped is not alive: its last beat must not pass for a fresh one.
        if self._path:
            Path(self._path).unlink(missing_ok=True)

    def _beat(self) -> None:
        try:
            write_beat(self._path, self._hostname)
        except OSError as exc:  # a full or read-only disk: the probe will say the worker is not alive
            log.warning("could not write the heartbeat file %s: %s", self._path, exc)
