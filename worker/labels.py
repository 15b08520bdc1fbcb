"""How a task shows in Flower: which job it serves, not just an opaque id.

Celery shows a task's `argsrepr` in Flower and in worker logs; for a task about a job it
says the job's item name, model and the start of its prompt, so a failed task leads to
its job. Labels are remembered from the job rows a process already holds (when it
records a job, when a task begins one): publishing never costs a database read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from worker.db.views import JobView

PROMPT_CHARS = 40
REMEMBERED = 4096

_known: OrderedDict[str, str] = OrderedDict()
# Each remembered job's batch id and item name, for the log lines about it.
_places: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
_lock = threading.Lock()


def remember(job: JobView) -> None:
    """Keep this job's label for the tasks this process sends about it."""
    prompt = str(job.params.get("prompt") or "")
    shown = prompt if len(prompt) <= PROMPT_CHARS else prompt[: PROMPT_CHARS - 1] + "…"
    parts = [f"item={job.item_name}"] if job.item_name else []
    parts.append(f"model={job.model_id}")
    if shown:
        parts.append(f"prompt={shown!r}")
    with _lock:
        _known[job.id] = " ".join(parts)
        _places[job.id] = (job.batch_id, job.item_name)
        for held in (_known, _places):
            held.move_to_end(job.id)
            while len(held) > REMEMBERED:
                held.popitem(last=False)


def place_of(job_id: str) -> tuple[str | None, str | None]:
    """The batch id and item name of a job this process remembers; (None, None) when unknown here."""
    with _lock:
        return _places.get(job_id, (None, None))


def job_argsrepr(args: tuple | list) -> str:
    """`('JOB_ID', ...) item=NAME model=MODEL prompt='the start…'`, or the bare args when unknown here."""
    bare = repr(tuple(args))
    if not args or not isinstance(args[0], str):
        return bare
    with _lock:
        label = _known.get(args[0])
    return f"{bare} {label}" if label else bare
