"""The optional parts of the install: which extra brings each module, so that a missing one is named.

The base install is what application code needs to enqueue and read jobs (and to run a worker
on SQLite); `pip install 'scenario-worker[postgres,console,flower]'` adds the rest.
"""

from __future__ import annotations

import importlib

from worker.errors import WorkerError

# A module an optional feature imports -> the extra that installs it.
EXTRA_OF = {
    "psycopg": "postgres",
    "flask": "console",
    "werkzeug": "console",
    "jinja2": "console",
    "gunicorn": "console",
    "flower": "flower",
}


class MissingExtra(WorkerError, ImportError):
    """An optional module is not installed; the message names the extra that brings it."""


def install_hint(module: str | None) -> str | None:
    """The pip command installing the extra that brings `module` (or its package), if one does."""
    extra = EXTRA_OF.get((module or "").partition(".")[0])
    return None if extra is None else f"pip install 'scenario-worker[{extra}]'"


def missing_extra(exc: ImportError, what: str) -> ImportError:
    """MissingExtra naming the extra for `exc`'s module, or `exc` itself when no extra brings that module."""
    hint = install_hint(exc.name)
    if hint is None:
        return exc
    return MissingExtra(f"{what} needs the Python module {exc.name!r}, which is not installed; install it with: {hint}")


def require(module: str, what: str) -> None:
    """Import `module` now, or raise MissingExtra saying which extra to install for `what`."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise missing_extra(exc, what) from None
