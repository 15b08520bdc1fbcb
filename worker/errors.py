"""The one root of every error this project raises on purpose.

Each layer has its own branch: the Scenario client's HTTP errors
(`worker.scenario.errors.ScenarioError`), the fleet's shared state in Redis
(`worker.fleet.errors.FleetError`), the settings (`worker.settings.SettingsError`).
Every error says whether a retry can help and, when it knows, how long to wait first.
"""

from __future__ import annotations

from typing import Any


class WorkerError(Exception):
    """Root of every error scenario-worker raises."""

    # Whether trying the same thing again later can succeed.
    retryable: bool = False
    # The earliest moment, in seconds from now, that a retry may come (None: no constraint).
    retry_after_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, for job rows, dead letters and logs."""
        return {
            "type": type(self).__name__,
            "status": None,
            "code": None,
            "message": str(self) or type(self).__name__,
            "retry_after_s": self.retry_after_s,
            "retryable": self.retryable,
        }
