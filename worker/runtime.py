"""The long-lived objects one process needs: settings, the Scenario client, the database.

Built on first use, never at import, and rebuilt in each forked worker child so
no connection is shared across a fork.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from worker.db.deadletters import DeadLetterRepository
from worker.db.jobs import JobRepository
from worker.db.session import Database
from worker.scenario.client import ScenarioClient
from worker.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    client: ScenarioClient
    database: Database
    jobs: JobRepository
    dead_letters: DeadLetterRepository

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        database = Database(settings.database_url)
        return cls(
            settings=settings,
            client=ScenarioClient.from_settings(settings),
            database=database,
            jobs=JobRepository(database),
            dead_letters=DeadLetterRepository(database),
        )

    def close(self) -> None:
        self.client.close()
        self.database.dispose()


_lock = threading.Lock()
_current: Runtime | None = None


def current() -> Runtime:
    """This process's runtime, built from the environment the first time it is asked for."""
    global _current
    with _lock:
        if _current is None:
            _current = Runtime.from_settings(Settings.from_env())
        return _current


def current_settings() -> Settings:
    return current().settings


def install(settings: Settings) -> Runtime:
    """Replace this process's runtime (the CLI and tests build settings themselves)."""
    global _current
    with _lock:
        if _current is not None:
            _current.close()
        _current = Runtime.from_settings(settings)
        return _current


def forget() -> None:
    """Drop the runtime without closing it: after a fork the parent's sockets are not ours."""
    global _current
    with _lock:
        _current = None
