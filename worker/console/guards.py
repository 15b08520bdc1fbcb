"""What a view needs of the signed-in person before it may change anything."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, g

from worker.console.auth import may_change

F = TypeVar("F", bound=Callable[..., Any])


def changes_state(view: F) -> F:
    """For views that change something: the read-only role gets 403."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not may_change(g.role):
            abort(403, description="your role can look but not change anything")
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]
