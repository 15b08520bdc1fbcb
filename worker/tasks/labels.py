"""How a task shows in Flower: which job it serves, not just an opaque id.

Celery shows a task's `argsrepr` in Flower and in worker logs; for a task about a job it
says the job's item name, model and the start of its prompt, so a failed task leads to
its job. A job's label never changes, so each process looks it up once.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from worker import runtime

log = logging.getLogger("worker.tasks")

PROMPT_CHARS = 40


def job_argsrepr(args: tuple | list) -> str:
    """`('JOB_ID', ...) item=NAME model=MODEL prompt='the start…'`, or the bare args when unknown."""
    bare = repr(tuple(args))
    if not args or not isinstance(args[0], str):
        return bare
    label = _label(args[0])
    return f"{bare} {label}" if label else bare


@lru_cache(maxsize=4096)
def _label(job_id: str) -> str:
    try:
        job = runtime.current().jobs.get(job_id)
    except Exception as exc:  # a label is never worth failing a publish for
        log.debug("no label for job_id=%s: %s", job_id, exc)
        _label.cache_clear()
        return ""
    if job is None:
        return ""
    prompt = str(job.params.get("prompt") or "")
    shown = prompt if len(prompt) <= PROMPT_CHARS else prompt[: PROMPT_CHARS - 1] + "…"
    parts = [f"item={job.item_name}"] if job.item_name else []
    parts.append(f"model={job.model_id}")
    if shown:
        parts.append(f"prompt={shown!r}")
    return " ".join(parts)
