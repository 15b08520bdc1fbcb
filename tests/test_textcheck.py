"""The checks at the door, as tables of what is let in and what is turned away with which words."""

from __future__ import annotations

import math

import pytest

from worker.textcheck import check_identifier, check_number, check_text

ONE_MB = "a" * 1_000_000


@pytest.mark.parametrize(
    ("value", "max_chars", "allow_empty"),
    [
        ("a red fox", 100, False),
        ("line one\nline two\r\n\tindented", 100, False),
        ("un renard roux, 赤い狐, 🦊", 100, False),
        ("", 100, True),
        ("x" * 100, 100, False),
        (ONE_MB, 1_000_000, False),
    ],
)
def test_ordinary_text_is_let_in_unchanged(value, max_chars, allow_empty):
    assert check_text("prompt", value, max_chars=max_chars, allow_empty=allow_empty) is value


@pytest.mark.parametrize(
    ("value", "max_chars", "words"),
    [
        ("\x00", 100, ["prompt", "'\\x00'", "position 0", "tab, newline and carriage return"]),
        ("a red\x00 fox", 100, ["prompt", "'\\x00'", "position 5"]),
        ("bell\x07", 100, ["prompt", "'\\x07'"]),
        ("escape \x1b[31m red", 100, ["prompt", "'\\x1b'"]),
        ("delete\x7f", 100, ["prompt", "'\\x7f'"]),
        ("a\ud800b", 100, ["prompt", "position 1", "unpaired surrogate", "UTF-8"]),
        ("\udfff", 100, ["prompt", "unpaired surrogate"]),
        ("x" * 101, 100, ["prompt", "101 characters", "at most 100"]),
        (ONE_MB, 10_000, ["prompt", "1000000 characters", "at most 10000"]),
        ("", 100, ["prompt", "empty"]),
        ("   \n", 100, ["prompt", "empty"]),
        (None, 100, ["prompt", "must be text", "NoneType"]),
        (b"bytes", 100, ["prompt", "must be text", "bytes"]),
        (42, 100, ["prompt", "must be text", "int"]),
    ],
)
def test_text_that_cannot_be_stored_or_shown_safely_is_refused_naming_the_field(value, max_chars, words):
    with pytest.raises(ValueError) as refused:
        check_text("prompt", value, max_chars=max_chars)

    message = str(refused.value)
    assert message.startswith("prompt: ")
    for word in words:
        assert word in message
    assert len(message) < 200  # the refused value is never echoed back whole


@pytest.mark.parametrize(
    "value",
    ["flux.1-dev", "model_abc123", "asset:xyz-01", "A.b_c-d:e", "x" * 128],
)
def test_ids_of_letters_digits_and_dot_underscore_dash_colon_are_let_in(value):
    assert check_identifier("model_id", value) == value


@pytest.mark.parametrize(
    ("value", "max_chars", "words"),
    [
        ("../../etc/passwd", 128, ["model_id", "letters, digits and . _ - :"]),
        ("..", 128, ["model_id", "'..'"]),
        (".", 128, ["model_id", "'.'"]),
        ("flux..dev", 128, ["model_id", "'..'"]),
        ("models/flux", 128, ["model_id", "letters, digits"]),
        ("back\\slash", 128, ["model_id", "letters, digits"]),
        ("with space", 128, ["model_id", "letters, digits"]),
        ("nul\x00", 128, ["model_id", "letters, digits"]),
        ("é", 128, ["model_id", "letters, digits"]),
        ("", 128, ["model_id", "empty"]),
        ("m" * 10_000, 128, ["model_id", "10000 characters", "at most 128"]),
        ("m" * 33, 32, ["model_id", "33 characters", "at most 32"]),
        (7, 128, ["model_id", "must be text", "int"]),
        (None, 128, ["model_id", "must be text"]),
    ],
)
def test_ids_that_could_escape_a_path_or_run_on_are_refused_naming_the_field(value, max_chars, words):
    with pytest.raises(ValueError) as refused:
        check_identifier("model_id", value, max_chars=max_chars)

    message = str(refused.value)
    assert message.startswith("model_id: ")
    for word in words:
        assert word in message
    assert len(message) < 200


@pytest.mark.parametrize(
    ("value", "low", "high", "integer"),
    [
        (600, 0, 86_400, False),
        (0.5, 0, 86_400, False),
        (0, 0, None, False),
        (86_400, 0, 86_400, False),
        (8, 1, 8, True),
        (-3.5, None, None, False),
        (10**15, None, None, True),
    ],
)
def test_finite_numbers_in_range_are_let_in(value, low, high, integer):
    assert check_number("deadline_s", value, low=low, high=high, integer=integer) == value


@pytest.mark.parametrize(
    ("value", "low", "high", "integer", "words"),
    [
        (math.nan, 0, 86_400, False, ["deadline_s", "nan", "not a finite number", "from 0 to 86400"]),
        (math.inf, 0, 86_400, False, ["deadline_s", "inf", "from 0 to 86400"]),
        (-math.inf, None, None, False, ["deadline_s", "-inf", "a finite number"]),
        (1e12, 0, 86_400, False, ["deadline_s", "1000000000000.0", "out of range", "from 0 to 86400"]),
        (-1, 0, 86_400, False, ["deadline_s", "out of range", "from 0 to 86400"]),
        (True, 0, 86_400, False, ["deadline_s", "must be a number from 0 to 86400", "True"]),
        (False, None, None, False, ["deadline_s", "False"]),
        ("600", 0, 86_400, False, ["deadline_s", "'600'"]),
        (None, 0, None, False, ["deadline_s", "None", "at least 0"]),
        (2.5, 1, 8, True, ["deadline_s", "a whole number from 1 to 8", "2.5"]),
        (9, 1, 8, True, ["deadline_s", "out of range", "a whole number from 1 to 8"]),
        (0, 1, None, True, ["deadline_s", "a whole number of at least 1"]),
        (99, None, 10, False, ["deadline_s", "a number of at most 10"]),
    ],
)
def test_nan_infinities_bools_and_out_of_range_numbers_are_refused_with_the_allowed_range(
    value, low, high, integer, words
):
    with pytest.raises(ValueError) as refused:
        check_number("deadline_s", value, low=low, high=high, integer=integer)

    message = str(refused.value)
    assert message.startswith("deadline_s: ")
    for word in words:
        assert word in message
