"""Forking the pool's processes at a worker's start without a full garbage collection before each.

Celery collects garbage before it forks each pool process, so that a child never runs the
finalizers of its parent's garbage (a connection's, say, on a socket both hold). After the
imports that is a walk over every object: about 80 ms a process on an idle machine, three
times at each start, while the fleet is a worker short. Frozen objects are left out of every
collection: frozen before each fork, the parent's objects are neither walked nor ever collected
in a child (its finalizers do not run there either), and Celery's collection walks only what
is new. Once the pool runs, the parent's objects are thawed, so its own collections see them
again. A pool process started later (one replacing a process that died) is forked as Celery
does it: the freeze is for the start alone, so that nothing stays frozen in the parent.
"""

from __future__ import annotations

import gc


class StartFreeze:
    """The parent's objects frozen from the first fork of a start until the pool runs."""

    def __init__(self) -> None:
        self.started = False

    def before_fork(self) -> bool:
        """Freeze every object now tracked, while the worker is starting; True when it did."""
        if self.started:
            return False
        gc.freeze()
        return True

    def pool_running(self) -> None:
        """The start is over: thaw what was frozen; later forks are Celery's own."""
        if not self.started:
            self.started = True
            gc.unfreeze()
