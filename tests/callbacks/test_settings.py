"""The callbacks' settings: secrets checked at the start, named when wrong, never shown."""

from __future__ import annotations

import base64
import json

import pytest

from worker.settings import Settings, SettingsError

GOOD = "whsec_" + base64.b64encode(b"s" * 32).decode()
BAD = "whsec_" + base64.b64encode(b"tiny").decode()


def test_one_secret_and_secrets_per_endpoint_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "SCENARIO_CALLBACK_SECRET": GOOD,
            "SCENARIO_CALLBACK_SECRETS": json.dumps({"https://app.example.com/": GOOD}),
            "SCENARIO_CALLBACK_MAX_ATTEMPTS": "3",
        }
    )

    assert settings.callback_secret == GOOD
    assert settings.callback_secret_map == {"https://app.example.com/": GOOD}
    assert settings.callback_max_attempts == 3


def test_the_secrets_never_appear_in_the_settings_repr():
    settings = Settings.from_env(
        {"SCENARIO_CALLBACK_SECRET": GOOD, "SCENARIO_CALLBACK_SECRETS": json.dumps({"app.example.com": GOOD})}
    )

    assert GOOD not in repr(settings)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SCENARIO_CALLBACK_SECRET": BAD}, "SCENARIO_CALLBACK_SECRET:"),
        ({"SCENARIO_CALLBACK_SECRETS": "app.example.com=" + GOOD}, "SCENARIO_CALLBACK_SECRETS must be a JSON object"),
        ({"SCENARIO_CALLBACK_SECRETS": json.dumps([GOOD])}, "SCENARIO_CALLBACK_SECRETS must be a JSON object"),
        ({"SCENARIO_CALLBACK_SECRETS": json.dumps({"app.example.com": BAD})}, "['app.example.com']"),
        ({"SCENARIO_CALLBACK_MAX_ATTEMPTS": "0"}, "SCENARIO_CALLBACK_MAX_ATTEMPTS"),
        ({"SCENARIO_CALLBACK_TIMEOUT_S": "0"}, "SCENARIO_CALLBACK_TIMEOUT_S"),
        (
            {"SCENARIO_CALLBACK_BACKOFF_S": "100", "SCENARIO_CALLBACK_BACKOFF_MAX_S": "10"},
            "SCENARIO_CALLBACK_BACKOFF_S",
        ),
    ],
)
def test_a_bad_value_stops_the_start_naming_its_variable_and_not_the_secret(env, named):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)

    assert named in str(caught.value)
    assert GOOD not in str(caught.value) and BAD not in str(caught.value)
