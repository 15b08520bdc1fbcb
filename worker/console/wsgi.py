"""The console as a WSGI application: `gunicorn 'worker.console.wsgi:application'`.

Built when gunicorn loads it (in each worker process), from the environment: the console's
logins and key (worker/console/settings.py) and the system's settings. Development mode's
made-up login is never used here: gunicorn may listen on any address.
"""

from __future__ import annotations

import logging

from flask import Flask

from worker import logs, runtime
from worker.console.app import create_app
from worker.console.settings import ConsoleSettings
from worker.settings import Settings


def build(host: str = "") -> Flask:
    """The console app for a server bound to `host` ("" when unknown: no development login)."""
    console = ConsoleSettings.from_env(host)
    settings = runtime.install(Settings.from_env()).settings
    if not logging.getLogger().handlers:
        # gunicorn sets up only its own loggers; the console's lines go to stderr in the configured format.
        logs.configure(settings.log_level.upper(), settings)
    return create_app(console)


def __getattr__(name: str) -> Flask:
    # Built on first access, not at import, so importing this module reads no environment.
    if name == "application":
        app = build()
        globals()["application"] = app
        return app
    raise AttributeError(name)
