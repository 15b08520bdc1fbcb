"""The Grafana dashboard and the alert rules parse, and use only metrics the code registers."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.harness import ROOT
from worker.observe.fleet import GAUGES
from worker.observe.metrics import COUNTERS, HISTOGRAMS

DASHBOARD = ROOT / "deploy" / "grafana" / "scenario-worker.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
_METRIC = re.compile(r"\bscenario_[a-z_]+\b")
REGISTERED = (
    set(COUNTERS) | set(GAUGES) | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_count", "_sum")}
)


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_dashboard_is_json_with_a_query_in_every_panel():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "scenario-worker"
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_the_alert_rules_are_yaml_with_a_name_an_expression_and_a_summary_each():
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == {
        "ScenarioDeadLettersGrowing",
        "ScenarioNoProgressWhileWorkIsQueued",
        "ScenarioSubmitsPausedForCredentials",
        "ScenarioOldestMessageTooOld",
    }
    assert all(rule["expr"].strip() and rule["annotations"]["summary"] for rule in rules)


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_the_file_uses_is_one_the_code_registers(source):
    exprs = dashboard_exprs() if source == "dashboard" else [rule["expr"] for rule in alert_rules()]
    used = {name for expr in exprs for name in _METRIC.findall(expr)}

    assert used, f"the {source} uses no metric of ours"
    assert used - REGISTERED == set()


def test_the_dashboard_shows_every_metric_the_code_registers():
    used = {name for expr in dashboard_exprs() for name in _METRIC.findall(expr)}
    shown = {re.sub(r"_(bucket|count|sum)$", "", name) for name in used}

    assert set(COUNTERS) | set(GAUGES) | set(HISTOGRAMS) <= shown
