"""How log lines look: text for people, or one JSON object per line for a log collector.

`SCENARIO_LOG_FORMAT=json` puts every record of the process (ours, Celery's worker and task
trace, the libraries') through `JsonFormatter`. A line says when, how bad, which logger and
what happened, and, when known, the job, batch, item, Scenario job, task, attempt and outcome
it is about. Every URL's password and every configured secret is masked; a traceback is a
field of its line, never lines of its own.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from worker.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What a record may carry about its job (`extra=` of the logging call), in the order shown.
CONTEXT_FIELDS = ("job_id", "batch", "item", "scenario_job_id", "task_name", "task_id", "attempt", "outcome")
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@]+@")
# Shorter configured values are too likely to occur in ordinary words to be masked blindly.
_SECRET_MIN_CHARS = 4


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every URL's password and every given secret replaced by ***; lines are kept."""
    text = _URL_PASSWORD.sub(r"\1***@", text)
    for secret in secrets:
        if len(secret) >= _SECRET_MIN_CHARS:
            text = text.replace(secret, "***")
    return text


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """The configured values no line may show: the API secret and the Basic token that carries it."""
    from worker.scenario.transport import secrets_of as transport_secrets

    return transport_secrets(settings.scenario_api_key, settings.scenario_api_secret)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the job context, a traceback if any."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage(), self._secrets),
        }
        line.update(_context(record))
        if record.exc_info and record.exc_info[0] is not None:
            line["traceback"] = mask(self.formatException(record.exc_info), self._secrets)
        elif record.stack_info:
            line["traceback"] = mask(self.formatStack(record.stack_info), self._secrets)
        return json.dumps(line, default=str, ensure_ascii=False)


def _context(record: logging.LogRecord) -> dict[str, Any]:
    """The job context of a record: what the call gave, else what the running Celery task says."""
    found = {name: getattr(record, name) for name in CONTEXT_FIELDS if getattr(record, name, None) is not None}
    # Celery's task trace names its task in the record's arguments.
    if isinstance(record.args, dict):
        found.setdefault("task_id", record.args.get("id"))
        found.setdefault("task_name", record.args.get("name"))
        outcome = _trace_outcomes().get(str(record.msg))
        if outcome is not None:
            found.setdefault("outcome", outcome)
    task = _current_task()
    if task is not None and task.request.id is not None and found.get("task_id") in (None, task.request.id):
        found.setdefault("task_name", task.name)
        found.setdefault("task_id", task.request.id)
        found.setdefault("attempt", (task.request.retries or 0) + 1)
        from worker.tasks.base import JOB_TASKS

        if task.name in JOB_TASKS and task.request.args:
            found.setdefault("job_id", task.request.args[0])
    if "job_id" in found and ("batch" not in found or "item" not in found):
        from worker.labels import place_of

        batch, item = place_of(str(found["job_id"]))
        if batch is not None:
            found.setdefault("batch", batch)
        if item is not None:
            found.setdefault("item", item)
    return {name: found[name] for name in CONTEXT_FIELDS if found.get(name) is not None}


def _trace_outcomes() -> dict[str, str]:
    from celery.app import trace

    return {
        trace.LOG_RECEIVED: "received",
        trace.LOG_SUCCESS: "succeeded",
        trace.LOG_FAILURE: "failed",
        trace.LOG_INTERNAL_ERROR: "failed",
        trace.LOG_IGNORED: "ignored",
        trace.LOG_REJECTED: "rejected",
        trace.LOG_RETRY: "retrying",
    }


def _current_task() -> Any:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency; a bare script may still log
        return None
    return current_task if current_task and getattr(current_task, "request", None) is not None else None


def formatter(log_format: str, secrets: Iterable[str] = ()) -> logging.Formatter:
    """The formatter for SCENARIO_LOG_FORMAT's value (checked by the settings)."""
    if log_format == "json":
        return JsonFormatter(secrets)
    return logging.Formatter(TEXT_FORMAT)


def use_format(loggers: Iterable[logging.Logger], settings: Settings) -> None:
    """Put every handler of these loggers on the configured format (Celery made the handlers)."""
    if settings.log_format != "json":
        return
    json_formatter = JsonFormatter(secrets_of(settings))
    for logger in loggers:
        for handler in logger.handlers:
            handler.setFormatter(json_formatter)


def configure(level: str, settings_or_format: Settings | str) -> None:
    """Set up the logging of a command-line process: one handler on stderr in the configured format."""
    if isinstance(settings_or_format, Settings):
        log_format, secrets = settings_or_format.log_format, secrets_of(settings_or_format)
    else:
        log_format, secrets = settings_or_format, ()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format, secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
