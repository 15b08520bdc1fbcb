"""The console's production web server: gunicorn, started from `scenario-worker console`.

Several worker processes, each with its own app and runtime (built after the fork);
with SCENARIO_LOG_FORMAT=json gunicorn's own lines are JSON too.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from worker import logs
from worker.console.settings import DEFAULT_SERVER_WORKERS
from worker.settings import Settings

# A page waits at most on the database and Celery's one-second ping; a request longer than this is stuck.
REQUEST_TIMEOUT_S = 60


class ConsoleServer(BaseApplication):
    """gunicorn serving `worker.console.wsgi.build(host)` on host:port."""

    def __init__(self, host: str, port: int, workers: int = DEFAULT_SERVER_WORKERS) -> None:
        self._host = host
        self._options = {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": workers,
            "timeout": REQUEST_TIMEOUT_S,
            "logger_class": ConsoleLogger,
            "accesslog": "-",
            "errorlog": "-",
            "proc_name": "scenario-worker-console",
            # gunicorn's control socket sits at one path per user: two consoles on a machine would share it.
            "control_socket_disable": True,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from worker.console.wsgi import build

        return build(self._host)


class ConsoleLogger(Logger):
    """gunicorn's logger, in the format SCENARIO_LOG_FORMAT names."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        logs.use_format([self.error_log, self.access_log], Settings.from_env())


def serve(host: str, port: int, workers: int = DEFAULT_SERVER_WORKERS) -> None:
    # Settings are checked here, before any process starts, so a bad one stops the start in one line.
    Settings.from_env()
    ConsoleServer(host, port, workers).run()
