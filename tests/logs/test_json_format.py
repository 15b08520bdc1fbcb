"""The JSON log format, line by line: fields, masking, tracebacks (worker/logs.py)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from worker.logs import JsonFormatter, mask


def record(message: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("the unexpected")
        except RuntimeError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("worker.tasks", logging.WARNING, __file__, 1, message, args or None, exc_info)
    made.__dict__.update(extra)
    return made


def test_a_line_is_one_json_object_with_time_level_logger_and_message():
    line = JsonFormatter().format(record("retrying %s", "soon"))

    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "WARNING"
    assert parsed["logger"] == "worker.tasks"
    assert parsed["message"] == "retrying soon"
    assert parsed["time"].endswith("+00:00")
    assert "traceback" not in parsed


def test_the_job_context_given_with_the_record_becomes_fields():
    extra = {
        "job_id": "j1",
        "batch": "b1",
        "item": "potion-health",
        "scenario_job_id": "job_abc",
        "task_name": "scenario.submit_generation",
        "task_id": "t1",
        "attempt": 2,
        "outcome": "retrying",
    }
    parsed = json.loads(JsonFormatter().format(record("retrying", **extra)))

    assert {k: parsed[k] for k in extra} == extra


def test_an_unexpected_error_carries_its_traceback_as_a_field_of_its_one_line():
    line = JsonFormatter().format(record("crashed", exc=True))

    assert "\n" not in line
    assert "RuntimeError: the unexpected" in json.loads(line)["traceback"]


@pytest.mark.parametrize(
    ("text", "secrets", "shown"),
    [
        ("redis://:hunter2@redis:6379/0 is down", (), "redis://:***@redis:6379/0 is down"),
        ("postgresql+psycopg://app:pw@db/jobs", (), "postgresql+psycopg://app:***@db/jobs"),
        ("echoed the-api-secret back", ("the-api-secret",), "echoed *** back"),
        ("a short one: abc", ("abc",), "a short one: abc"),
        ("line one\nline two", (), "line one\nline two"),
    ],
)
def test_passwords_and_configured_secrets_are_masked(text, secrets, shown):
    assert mask(text, secrets) == shown


def test_a_secret_in_a_message_or_a_traceback_never_reaches_the_line():
    formatter = JsonFormatter(secrets=("the-api-secret",))
    line = formatter.format(record("sent with the-api-secret to amqp://u:pw@host//", exc=True))

    assert "the-api-secret" not in line
    assert ":pw@" not in line
