"""Job options are checked when they are made, and each wrong one is named."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from worker.options import OPTION_NAMES, JobOptions

SOON = datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=2)))

WRONG = [
    ({"idempotency_key": ""}, "options.idempotency_key"),
    ({"idempotency_key": "has space"}, "options.idempotency_key"),
    ({"idempotency_key": "k" * 201}, "options.idempotency_key"),
    ({"tags": "one"}, "options.tags"),
    ({"tags": ["ok", ""]}, "options.tags"),
    ({"tags": [f"t{i}" for i in range(33)]}, "options.tags"),
    ({"metadata": ["not", "a", "mapping"]}, "options.metadata"),
    ({"metadata": {"when": datetime.now()}}, "options.metadata"),
    ({"metadata": {"blob": "x" * 9000}}, "options.metadata"),
    ({"priority": 10}, "options.priority"),
    ({"priority": -1}, "options.priority"),
    ({"priority": True}, "options.priority"),
    ({"priority": 2.5}, "options.priority"),
    ({"not_before": datetime(2030, 1, 1)}, "options.not_before"),
    ({"deadline_s": 0}, "options.deadline_s"),
    ({"deadline_s": float("nan")}, "options.deadline_s"),
    ({"deadline_s": 8 * 86_400}, "options.deadline_s"),
    ({"callback_url": "ftp://example.com/x"}, "options.callback_url"),
    ({"callback_url": "https:///nohost"}, "options.callback_url"),
    ({"callback_url": "https://user:pw@example.com/hook"}, "options.callback_url"),
]


@pytest.mark.parametrize(("given", "named"), WRONG)
def test_a_wrong_option_is_refused_by_name(given, named):
    with pytest.raises(ValueError) as caught:
        JobOptions(**given)
    assert str(caught.value).startswith(named + ":")


def test_good_options_are_kept_in_canonical_form():
    options = JobOptions(
        idempotency_key="order-42/icon",
        tags=["ui", "icons"],
        metadata={"order": 42, "who": {"id": "u1"}},
        priority=0,
        not_before=SOON,
        deadline_s=600,
        callback_url="https://app.example.com/hooks/scenario",
    )
    assert options.tags == ("ui", "icons")
    assert options.not_before == datetime(2029, 12, 31, 22, tzinfo=timezone.utc)
    assert options.not_before.tzinfo == timezone.utc


def test_defaults_ask_for_nothing_special():
    options = JobOptions()
    assert (options.idempotency_key, options.tags, options.metadata, options.priority) == (None, (), {}, 5)


def test_the_option_names_are_the_fields():
    assert OPTION_NAMES == {
        "idempotency_key",
        "tags",
        "metadata",
        "priority",
        "not_before",
        "deadline_s",
        "callback_url",
    }
