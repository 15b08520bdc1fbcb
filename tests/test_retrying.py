from __future__ import annotations

import pytest

from worker.retrying import (
    RETRY_AFTER_MARGIN_S,
    error_details,
    is_permanent,
    retry_countdown_s,
    same_generation,
)
from worker.scenario.errors import BadRequest, NetworkError, RateLimited, ServerError


@pytest.mark.parametrize(
    ("proposed_s", "error", "expected_s"),
    [
        (3.0, ServerError("boom", status=500), 3.0),
        (None, ServerError("boom", status=500), 0.0),
        (1.0, RateLimited("slow down", status=429, retry_after_s=10.0), 10.0 + RETRY_AFTER_MARGIN_S),
        (20.0, RateLimited("slow down", status=429, retry_after_s=10.0), 20.0),  # backoff already longer
        (2.0, RateLimited("slow down", status=429), 2.0),  # no Retry-After: backoff alone
        (2.0, RateLimited("slow down", status=429, retry_after_s=0.0), 2.0),
        (-1.0, None, 0.0),
        (4.0, ValueError("not ours"), 4.0),
    ],
)
def test_a_retry_waits_for_the_backoff_and_never_less_than_retry_after(proposed_s, error, expected_s):
    assert retry_countdown_s(proposed_s, error) == pytest.approx(expected_s)


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (BadRequest("bad", status=400), True),
        (RateLimited("later", status=429), False),
        (NetworkError("no answer"), False),
        (KeyError("x"), False),
    ],
)
def test_only_permanent_scenario_errors_skip_the_retries(error, permanent):
    assert is_permanent(error) is permanent


def test_error_details_keep_the_status_code_and_message_of_a_scenario_error():
    details = error_details(BadRequest('"prompt" must be a string', status=400, code="INVALID_PARAMETER"))
    assert details["status"] == 400
    assert details["code"] == "INVALID_PARAMETER"
    assert details["message"] == '"prompt" must be a string'
    assert details["retryable"] is False


def test_error_details_describe_any_other_error_by_its_type_and_text():
    details = error_details(ConnectionResetError("peer went away"))
    assert details["type"] == "ConnectionResetError"
    assert details["message"] == "peer went away"
    assert details["status"] is None


SENT = {"modelId": "flux.1-dev", "prompt": "a fox", "width": 512, "height": 512, "numSamples": 1}


@pytest.mark.parametrize(
    ("seen", "same"),
    [
        ({**SENT, "type": "txt2img", "guidance": 3.5}, True),  # Scenario fills in defaults
        ({**SENT, "prompt": "a wolf"}, False),
        ({k: v for k, v in SENT.items() if k != "width"}, False),
        ({}, False),
    ],
)
def test_an_earlier_submission_is_recognised_by_every_field_sent(seen, same):
    assert same_generation(SENT, seen) is same
