from __future__ import annotations

import pytest

from tests.scenario.canned import Canned
from worker.scenario.client import ScenarioClient
from worker.scenario.errors import NetworkError
from worker.settings import Settings


@pytest.mark.parametrize(
    "base_url",
    [
        "",
        "api.cloud.scenario.com/v1",
        "ftp://api.cloud.scenario.com/v1",
        "http://",
        "https:///v1",
        "http://h/v1?x=1",
        None,
    ],
)
def test_a_base_url_that_is_not_http_is_refused_naming_base_url(base_url):
    with pytest.raises(ValueError, match="base_url"):
        ScenarioClient(base_url, "key", "secret")


@pytest.mark.parametrize(
    ("base_url", "kept"),
    [
        ("https://api.cloud.scenario.com/v1/", "https://api.cloud.scenario.com/v1"),
        ("http://127.0.0.1:8765/v1", "http://127.0.0.1:8765/v1"),
    ],
)
def test_the_base_url_is_kept_without_a_trailing_slash(base_url, kept):
    with ScenarioClient(base_url, "key", "secret") as client:
        assert client.base_url == kept


@pytest.mark.parametrize("name", ["connect_timeout_s", "read_timeout_s"])
@pytest.mark.parametrize("value", [0, -1.0])
def test_a_timeout_that_is_not_positive_is_refused_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        ScenarioClient("http://127.0.0.1/v1", "key", "secret", **{name: value})


def test_repr_shows_the_url_and_key_but_not_the_secret():
    with ScenarioClient("https://api.cloud.scenario.com/v1", "key-123", "s3cr3t-value") as client:
        shown = repr(client) + str(client)
    assert "https://api.cloud.scenario.com/v1" in shown and "key-123" in shown
    assert "s3cr3t-value" not in shown


def test_from_settings_takes_the_url_credentials_and_timeouts(canned):
    settings = Settings(
        scenario_api_url=f"{canned.url}/v1",
        scenario_api_key="key-9",
        scenario_api_secret="secret-9",
        read_timeout_s=0.2,
    )
    canned.answer(Canned(body={"job": {"jobId": "j", "status": "queued"}}, delay_s=1.0))
    with ScenarioClient.from_settings(settings) as client:
        assert (client.base_url, client.api_key) == (f"{canned.url}/v1", "key-9")
        with pytest.raises(NetworkError):
            client.get_job("j")  # the 0.2 s read timeout from the settings ran out
    assert canned.seen[0].headers["Authorization"].startswith("Basic ")


def test_from_settings_passes_extra_options_through(canned):
    heard: list[str] = []
    settings = Settings(scenario_api_url=canned.url, scenario_api_key="k", scenario_api_secret="s")
    canned.answer(Canned(body={"model": {"id": "m"}}))
    with ScenarioClient.from_settings(settings, before_request=heard.append) as client:
        client.get_model("m")
    assert heard == ["get_model"]
