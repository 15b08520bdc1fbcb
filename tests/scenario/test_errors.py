"""`error_from_response` as a table: status, headers and body -> class, retryable, retry_after_s."""

from __future__ import annotations

import email.utils
import pickle

import pytest

from worker.scenario.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NetworkError,
    NotFound,
    ParallelLimitReached,
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
        # The longer of the two headers wins: a retry before either moment is refused again.
        (429, {"Retry-After-Ms": "1500", "Retry-After": "9"}, RateLimited, True, 9.0),
        (429, {"Retry-After-Ms": "12000", "Retry-After": "3"}, RateLimited, True, 12.0),
        (429, {"Retry-After-Ms": "1500"}, RateLimited, True, 1.5),
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
        ({"reason": "Too many parallel jobs"}, None, "Too many parallel jobs"),
        ({"message": "", "reason": "the reason"}, None, "the reason"),
        ({"message": "the message", "reason": "the reason"}, None, "the message"),
        ("model is warming up, try later", None, "model is warming up, try later"),
        (b"bytes of text", None, "bytes of text"),
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", None, "502 Bad Gateway"),
        ("x" * 500, None, "x" * 197 + "..."),
        ({"code": 12, "message": ["x"]}, None, '{"code": 12, "message": ["x"]}'),
        ({"error": "unknown shape"}, None, '{"error": "unknown shape"}'),
        (["a list"], None, '["a list"]'),
        (None, None, "Scenario answered HTTP 400 with no error message"),
        ("", None, "Scenario answered HTTP 400 with no error message"),
        ("  <html></html> ", None, "Scenario answered HTTP 400 with no error message"),
        ({}, None, "Scenario answered HTTP 400 with no error message"),
        ({"message": ""}, None, "Scenario answered HTTP 400 with no error message"),
        ({"status": "error", "code": "E"}, "E", "Scenario answered HTTP 400 with no error message"),
    ],
)
def test_the_code_and_message_come_from_whichever_text_the_body_has(body, code, message):
    error = error_from_response(400, body, {}, now=NOW)
    assert (error.code, error.message) == (code, message)


@pytest.mark.parametrize(
    ("body", "details", "hint"),
    [
        ({**ERROR, "details": {"field": "modelId"}, "hint": "see the docs"}, {"field": "modelId"}, "see the docs"),
        ({"reason": "r", "details": ["a", 1]}, ["a", 1], None),
        ({"reason": "r", "details": "plain"}, "plain", None),
        ({"reason": "r", "hint": 3}, None, None),
        ("text body", None, None),
    ],
)
def test_details_of_any_json_shape_and_a_hint_are_kept(body, details, hint):
    error = error_from_response(400, body, {}, now=NOW)
    assert (error.details, error.hint) == (details, hint)
    assert (error.to_dict()["details"], error.to_dict()["hint"]) == (details, hint)


@pytest.mark.parametrize(
    ("body", "headers", "retry_after_s"),
    [
        ({"reason": "busy", "remainingSeconds": 12}, {}, 12.0),
        ({"reason": "busy", "remainingSeconds": 12.5}, {"retry-after": "3"}, 12.5),
        ({"reason": "busy", "remainingSeconds": 2}, {"retry-after": "30"}, 30.0),
        ({"reason": "busy", "remainingSeconds": 2}, {"retry-after-ms": "4500"}, 4.5),
        ({"reason": "busy", "remainingSeconds": "7"}, {}, 7.0),
        ({"reason": "busy", "remainingSeconds": -3}, {}, None),
        ({"reason": "busy", "remainingSeconds": -3}, {"retry-after": "1"}, 1.0),
        ({"reason": "busy", "remainingSeconds": 1e400}, {}, None),
        ({"reason": "busy", "remainingSeconds": True}, {}, None),
        ({"reason": "busy", "remainingSeconds": None}, {}, None),
        ({"reason": "busy", "remainingSeconds": "soon"}, {"retry-after": "2"}, 2.0),
    ],
)
def test_the_wait_is_the_longest_of_the_headers_and_remaining_seconds(body, headers, retry_after_s):
    assert error_from_response(429, body, headers, now=NOW).retry_after_s == retry_after_s


PARALLEL = {
    "reason": "Too many parallel jobs",
    "details": {"actionName": "parallelInferences", "actionLimit": 3},
    "remainingSeconds": 20,
}


@pytest.mark.parametrize(
    ("status", "body", "cls", "limit"),
    [
        (429, PARALLEL, ParallelLimitReached, 3),
        (429, {"reason": "r", "details": {"actionName": "parallelCustomJobs"}}, ParallelLimitReached, None),
        (429, {"reason": "r", "details": {"actionLimit": 5}}, ParallelLimitReached, 5),
        (429, {"reason": "r", "details": {"actionLimit": "5"}}, ParallelLimitReached, None),
        (429, {"reason": "r", "details": {"limits": {"parallelInferences": 2}}}, ParallelLimitReached, None),
        (429, {"code": "LIMIT", "message": "m", "limit": "parallelCustomJobs"}, ParallelLimitReached, None),
        # Wording alone never decides: a message that mentions the limit is a plain rate limit.
        (429, {"message": "parallelInferences"}, RateLimited, None),
        (429, {"reason": "Too many parallel jobs"}, RateLimited, None),
        (429, {"reason": "r", "hint": "parallelInferences"}, RateLimited, None),
        (429, {"reason": "r", "details": {"requests": 100}}, RateLimited, None),
        (429, "parallelInferences", RateLimited, None),
        # Only a 429 is a parallel limit.
        (400, PARALLEL, BadRequest, None),
    ],
)
def test_a_429_naming_the_parallel_limit_in_its_fields_is_parallel_limit_reached(status, body, cls, limit):
    error = error_from_response(status, body, {}, now=NOW)
    assert type(error) is cls
    assert getattr(error, "limit", None) == limit
    assert error.retryable is (status == 429)


def test_a_parallel_limit_waits_its_remaining_seconds_and_says_why():
    error = error_from_response(429, PARALLEL, {}, now=NOW)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 20.0
    assert error.message == "Too many parallel jobs" and error.to_dict()["limit"] == 3


@pytest.mark.parametrize(
    ("cls", "account_wide"),
    [
        (Unauthorized, True),
        (PaymentRequired, True),
        (Forbidden, False),
        (BadRequest, False),
        (NotFound, False),
        (RateLimited, False),
        (ParallelLimitReached, False),
        (ServerError, False),
        (NetworkError, False),
        (UnexpectedResponse, False),
    ],
)
def test_only_401_and_402_are_account_wide(cls, account_wide):
    assert cls.account_wide is account_wide
    status = {Unauthorized: 401, PaymentRequired: 402, Forbidden: 403}.get(cls)
    if status is not None:
        assert error_from_response(status, ERROR, {}).account_wide is account_wide


def test_str_names_the_status_code_and_message():
    error = error_from_response(400, ERROR, {})
    assert str(error) == 'HTTP 400 INVALID_PARAMETER: "modelId" must be a string'


def test_the_families_say_whether_a_retry_can_help():
    assert issubclass(RateLimited, TransientError) and issubclass(NotFound, PermanentError)
    assert issubclass(TransientError, ScenarioError) and issubclass(PermanentError, ScenarioError)


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (429, ERROR, {"retry-after": "2"}),
        (429, PARALLEL, {"retry-after": "1"}),
        (400, {**ERROR, "details": {"field": ["a", {"b": 1}]}, "hint": "check it"}, {}),
        (402, {"reason": "no units"}, {}),
    ],
)
def test_an_error_keeps_every_field_through_pickling(status, body, headers):
    error = error_from_response(status, body, headers)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.to_dict() == error.to_dict()
    assert (copy.details, copy.hint, copy.message, str(copy)) == (error.details, error.hint, error.message, str(error))
    assert getattr(copy, "limit", None) == getattr(error, "limit", None)


def test_an_error_pickled_by_the_previous_release_is_still_read():
    from worker.scenario.errors import _rebuild

    error = _rebuild(RateLimited, "slow down", 429, "RATE_LIMITED", 2.0)
    assert (type(error), error.status, error.code, error.retry_after_s) == (RateLimited, 429, "RATE_LIMITED", 2.0)
    assert (error.details, error.hint) == (None, None)


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
