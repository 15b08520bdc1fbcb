"""SCENARIO_METRICS_PORT: off by default, a bad value named."""

from __future__ import annotations

import pytest

from worker.settings import Settings, SettingsError


def test_metrics_are_served_on_no_port_by_default():
    assert Settings.from_env({}).metrics_port == 0


@pytest.mark.parametrize("raw", ["-1", "65536", "nine"])
def test_a_bad_metrics_port_stops_the_start_naming_the_variable(raw):
    with pytest.raises(SettingsError, match="SCENARIO_METRICS_PORT"):
        Settings.from_env({"SCENARIO_METRICS_PORT": raw})
