"""`error_from_response` as a table: status, headers and body -> class, retryable, retry_after_s."""

from __future__ import annotations

import email.utils
import pickle

import pytest

from worker.scenario.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PaymentRequired,
    PermanentError,
    RateLimited,
    ScenarioError,
    ServerError,
    TransientError,
    Unauthorized,
    UnexpectedResponse,
    error_from_response,
    parse_retry_after,
)

NOW = 1_750_000_000.0  # a fixed clock, so HTTP dates give exact answers
ERROR = {"status": "error", "code": "INVALID_PARAMETER", "message": '"modelId" must be a string'}


def http_date(offset_s: float) -> str:
    return email.utils.formatdate(NOW + offset_s, usegmt=True)


@pytest.mark.parametrize(
    ("status", "headers", "cls", "retryable", "retry_after_s"),
    [
        (400, {}, BadRequest, False, None),
        (401, {}, Unauthorized, False, None),
        (402, {}, PaymentRequired, False, None),
        (403, {}, Forbidden, False, None),
        (404, {}, NotFound, False, None),
        (408, {}, Conflict, True, None),
        (409, {}, Conflict, True, None),
        (418, {}, UnexpectedResponse, False, None),
        (302, {}, UnexpectedResponse, False, None),
        (429, {}, RateLimited, True, None),
        (429, {"Retry-After": "2"}, RateLimited, True, 2.0),
        (429, {"retry-after": "0"}, RateLimited, True, 0.0),
        (429, {"Retry-After": " 3.5 "}, RateLimited, True, 3.5),
        (429, {"Retry-After-Ms": "1500", "Retry-After": "9"}, RateLimited, True, 1.5),
        (429, {"retry-after-ms": "-5", "retry-after": "4"}, RateLimited, True, 4.0),
        (429, {"retry-after-ms": "soon", "retry-after": "4"}, RateLimited, True, 4.0),
        (429, {"retry-after-ms": "nan", "retry-after": "4"}, RateLimited, True, 4.0),
        (429, {"Retry-After": http_date(30)}, RateLimited, True, 30.0),
        (429, {"Retry-After": http_date(-30)}, RateLimited, True, 0.0),
        (429, {"Retry-After": "-1"}, RateLimited, True, None),
        (429, {"Retry-After": "later"}, RateLimited, True, None),
        (429, {"Retry-After": ""}, RateLimited, True, None),
        (429, {"Retry-After": "nan"}, RateLimited, True, None),
        (500, {}, ServerError, True, None),
        (502, {}, ServerError, True, None),
        (503, {"Retry-After": "7"}, ServerError, True, 7.0),
        (504, {}, ServerError, True, None),
        (599, {}, ServerError, True, None),
        # x-should-retry overrides the status code's verdict, as Scenario's SDK does.
        (400, {"x-should-retry": "true"}, Conflict, True, None),
        (404, {"X-Should-Retry": " TRUE "}, Conflict, True, None),
        (500, {"x-should-retry": "false"}, UnexpectedResponse, False, None),
        (429, {"x-should-retry": "false", "retry-after": "3"}, UnexpectedResponse, False, 3.0),
        (503, {"x-should-retry": "true"}, ServerError, True, None),
        (400, {"x-should-retry": "maybe"}, BadRequest, False, None),
    ],
)
def test_each_answer_becomes_the_right_error(status, headers, cls, retryable, retry_after_s):
    error = error_from_response(status, ERROR, headers, now=NOW)
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.retry_after_s == retry_after_s
    assert error.status == status


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (ERROR, "INVALID_PARAMETER", '"modelId" must be a string'),
        (None, None, "Scenario answered HTTP 400 with no error message"),
        ("<html>bad</html>", None, "Scenario answered HTTP 400 with no error message"),
        ({"code": 12, "message": ["x"]}, None, "Scenario answered HTTP 400 with no error message"),
        ({"message": ""}, None, "Scenario answered HTTP 400 with no error message"),
    ],
)
def test_the_code_and_message_come_from_the_body_when_it_has_them(body, code, message):
    error = error_from_response(400, body, {}, now=NOW)
    assert (error.code, error.message) == (code, message)


def test_str_names_the_status_code_and_message():
    error = error_from_response(400, ERROR, {})
    assert str(error) == 'HTTP 400 INVALID_PARAMETER: "modelId" must be a string'


def test_the_families_say_whether_a_retry_can_help():
    assert issubclass(RateLimited, TransientError) and issubclass(NotFound, PermanentError)
    assert issubclass(TransientError, ScenarioError) and issubclass(PermanentError, ScenarioError)


def test_an_error_keeps_its_fields_through_pickling():
    error = error_from_response(429, ERROR, {"retry-after": "2"})
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RateLimited
    assert copy.to_dict() == error.to_dict()


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"retry-after": "1e400"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after-ms": "inf"}, None),
    ],
)
def test_an_endless_retry_after_is_ignored(headers, seconds):
    assert parse_retry_after(headers, now=NOW) == seconds
