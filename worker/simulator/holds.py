"""A hold: requests a rule catches wait, counted, until the one who set it lets them go.

Tests use it as a rendezvous instead of a delay: wait until Scenario has the request,
do what must happen while it is unanswered (kill the sender, say), then release it.
"""

from __future__ import annotations

import threading

# A hold nobody releases lets its requests go after this long, so no thread waits for ever.
HOLD_LIMIT_S = 60.0


class Hold:
    """The requests caught by one "hold" rule; safe from any thread."""

    def __init__(self, limit_s: float = HOLD_LIMIT_S) -> None:
        self.limit_s = limit_s
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._held = 0

    @property
    def held(self) -> int:
        """How many requests it has caught so far, let go or not."""
        with self._lock:
            return self._held

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def keep(self) -> None:
        """Hold the calling request until release(), or for limit_s at most; at once once released."""
        with self._lock:
            self._held += 1
        self._released.wait(self.limit_s)

    def release(self) -> None:
        """Let every held request go on, and any it catches later pass without waiting."""
        self._released.set()
