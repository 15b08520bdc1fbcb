"""Which line, and which exit code, each kind of failure becomes; secrets never among the words."""

from __future__ import annotations

import pytest
import redis.exceptions
import sqlalchemy.exc
from amqp.exceptions import AccessRefused
from kombu.exceptions import OperationalError as KombuOperationalError

from worker.cli.broker import BrokerUnavailable
from worker.cli.failures import EXIT_FAILED, EXIT_USAGE, Where, explain, scrub
from worker.db.migrate import SchemaDrift
from worker.db.placement import TableConflict
from worker.db.session import DatabaseUrlError
from worker.extras import MissingExtra
from worker.fleet.errors import SubmitsPaused
from worker.fleet.ratelimit import RateLimiterUnavailable
from worker.scenario.errors import Forbidden, NetworkError, PaymentRequired, ServerError, Unauthorized
from worker.settings import SettingsError

SECRET = "s3cret-value-never-shown"
WHERE = Where(
    database_url="postgresql+psycopg://app:***@db:5432/jobs",
    broker_url="redis://:***@cache:6379/0",
    api_url="https://api.example/v1",
    secrets=(SECRET,),
)


def _raised_from(exc: Exception, cause: Exception) -> Exception:
    try:
        raise exc from cause
    except Exception as caught:
        return caught


def _driver_error(kind: type[sqlalchemy.exc.DBAPIError], text: str) -> sqlalchemy.exc.DBAPIError:
    return kind("SELECT 1", {}, Exception(text))


CASES = [
    (SettingsError("SCENARIO_MAX_RETRIES='lots' is not a whole number"), EXIT_USAGE, ["SCENARIO_MAX_RETRIES"]),
    (DatabaseUrlError("'nonsense' is not a database URL"), EXIT_USAGE, ["DATABASE_URL", "'nonsense'"]),
    (
        BrokerUnavailable("Error 111 connecting to cache:6379. Connection refused."),
        EXIT_FAILED,
        ["CELERY_BROKER_URL=redis://:***@cache:6379/0", "Connection refused", "nothing was queued"],
    ),
    (
        _raised_from(NetworkError("the budget cannot be read"), RateLimiterUnavailable("Redis did not answer")),
        EXIT_FAILED,
        ["CELERY_BROKER_URL=redis://:***@cache:6379/0", "Redis did not answer"],
    ),
    (
        Unauthorized("Invalid credentials", status=401, code="UNAUTHORIZED"),
        EXIT_FAILED,
        ["HTTP 401", "SCENARIO_API_KEY and SCENARIO_API_SECRET"],
    ),
    (Forbidden("not for this key", status=403), EXIT_FAILED, ["HTTP 403", "SCENARIO_API_KEY"]),
    (
        NetworkError("POST /v1/generate/txt2img: connection refused"),
        EXIT_FAILED,
        ["SCENARIO_API_URL=https://api.example/v1", "connection refused"],
    ),
    (ServerError("busy", status=503), EXIT_FAILED, ["Scenario answered HTTP 503", "busy"]),
    (PaymentRequired("no credits", status=402), EXIT_FAILED, ["HTTP 402", "no credits"]),
    (SubmitsPaused("submits are paused for 30 s", retry_after_s=30.0), EXIT_FAILED, ["paused for 30 s"]),
    (
        _driver_error(sqlalchemy.exc.OperationalError, 'connection to server at "db", port 5432 failed\n\tIs it on?'),
        EXIT_FAILED,
        ["DATABASE_URL=postgresql+psycopg://app:***@db:5432/jobs", "port 5432 failed"],
    ),
    (
        _driver_error(sqlalchemy.exc.ProgrammingError, 'relation "jobs" does not exist'),
        EXIT_FAILED,
        ['relation "jobs" does not exist', "scenario-worker db upgrade"],
    ),
    (sqlalchemy.exc.ArgumentError("Could not parse"), EXIT_USAGE, ["DATABASE_URL", "Could not parse"]),
    (
        KombuOperationalError("Error 111 connecting to cache:6379."),
        EXIT_FAILED,
        ["CELERY_BROKER_URL=redis://:***@cache:6379/0", "Error 111"],
    ),
    (redis.exceptions.ConnectionError("Connection reset"), EXIT_FAILED, ["CELERY_BROKER_URL", "Connection reset"]),
    (AccessRefused("Login was refused"), EXIT_FAILED, ["CELERY_BROKER_URL", "Login was refused"]),
    (SchemaDrift("the models and migrations differ"), EXIT_FAILED, ["models and migrations differ"]),
    (TableConflict("table jobs already exists and is not ours"), EXIT_FAILED, ["table jobs already exists"]),
    (
        MissingExtra("the console needs the Python module 'flask'; pip install 'scenario-worker[console]'"),
        EXIT_FAILED,
        ["'flask'", "scenario-worker[console]"],
    ),
    (ValueError("prompt: control character '\\x00' is not allowed"), EXIT_USAGE, ["prompt:", "not allowed"]),
    (FileNotFoundError(2, "No such file or directory", "/no/such/out"), EXIT_FAILED, ["No such file", "/no/such/out"]),
    (RuntimeError("something odd\nsecond line"), EXIT_FAILED, ["unexpected RuntimeError", "something odd", "DEBUG"]),
]


@pytest.mark.parametrize(("exc", "code", "words"), CASES, ids=[type(case[0]).__name__ for case in CASES])
def test_each_failure_is_one_line_naming_what_to_fix_with_its_exit_code(exc, code, words):
    got_code, line = explain(exc, WHERE)

    assert got_code == code
    assert "\n" not in line and "Traceback" not in line
    for word in words:
        assert word in line


@pytest.mark.parametrize(
    "text",
    [
        f"Scenario said: key test-key secret {SECRET}",
        "could not connect to postgresql+psycopg://app:hunter2@db/jobs",
        "broker amqp://guest:hunter2@rabbit:5672// refused",
        "redis://:hunter2@cache:6379/0 is down",
    ],
)
def test_passwords_in_urls_and_configured_secrets_are_masked_in_any_line(text):
    cleaned = scrub(text, (SECRET,))

    assert "hunter2" not in cleaned and SECRET not in cleaned
    assert "***" in cleaned


def test_an_error_that_quotes_a_secret_is_shown_with_the_secret_masked():
    _, line = explain(Unauthorized(f"key test-key with secret {SECRET} refused", status=401), WHERE)

    assert SECRET not in line and "***" in line
