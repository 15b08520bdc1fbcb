"""The console's pure decisions: its settings, who may do what, CSRF, and what the pages show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from worker.console.auth import Role, authenticate, csrf_ok, may_change
from worker.console.present import (
    BadFilter,
    batch_cost,
    cost_of,
    parse_job_filter,
    plain_file_name,
    shown_files,
    timeline,
)
from worker.console.settings import ConsoleSettings, Login
from worker.settings import SettingsError
from worker.states import JobStatus

KEY = "k" * 32
FULL = {
    "CONSOLE_ADMIN_USER": "ada",
    "CONSOLE_ADMIN_PASSWORD": "admin-pass",
    "CONSOLE_VIEWER_USER": "vic",
    "CONSOLE_VIEWER_PASSWORD": "viewer-pass",
    "CONSOLE_SECRET_KEY": KEY,
}
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("host", "env", "refusal"),
    [
        ("0.0.0.0", {}, "needs CONSOLE_ADMIN_USER, CONSOLE_ADMIN_PASSWORD and CONSOLE_SECRET_KEY"),
        ("127.0.0.1", {}, "only with CONSOLE_DEV_MODE=true and --host 127.0.0.1"),
        ("0.0.0.0", {"CONSOLE_DEV_MODE": "true"}, "only with CONSOLE_DEV_MODE=true and --host 127.0.0.1"),
        ("0.0.0.0", {**FULL, "CONSOLE_SECRET_KEY": ""}, "needs CONSOLE_ADMIN_USER"),
        ("0.0.0.0", {**FULL, "CONSOLE_SECRET_KEY": "short"}, "CONSOLE_SECRET_KEY must be at least 32 characters"),
        ("0.0.0.0", {**FULL, "CONSOLE_ADMIN_PASSWORD": ""}, "CONSOLE_ADMIN_PASSWORD is empty"),
        ("0.0.0.0", {**FULL, "CONSOLE_VIEWER_USER": "ada"}, "CONSOLE_VIEWER_USER must differ"),
        ("0.0.0.0", {**FULL, "CONSOLE_FLOWER_URL": "flower:5555"}, "CONSOLE_FLOWER_URL='flower:5555' must start"),
        ("127.0.0.1", {"CONSOLE_DEV_MODE": "maybe"}, "CONSOLE_DEV_MODE='maybe' is not true or false"),
    ],
)
def test_the_console_refuses_settings_it_cannot_use_naming_the_variable(host, env, refusal):
    with pytest.raises(SettingsError, match=refusal.replace("(", r"\(")):
        ConsoleSettings.from_env(host, env)


def test_development_mode_on_loopback_makes_up_a_throwaway_admin_and_key():
    one = ConsoleSettings.from_env("127.0.0.1", {"CONSOLE_DEV_MODE": "true"})
    two = ConsoleSettings.from_env("127.0.0.1", {"CONSOLE_DEV_MODE": "true"})

    assert one.admin is not None and one.admin.user == "dev" and len(one.admin.password) >= 16
    assert one.secret_key != two.secret_key and one.admin.password != two.admin.password
    assert one.made_up_login


def test_development_mode_keeps_a_login_that_is_set_and_never_calls_it_made_up():
    env = {"CONSOLE_DEV_MODE": "true", "CONSOLE_ADMIN_USER": "dev", "CONSOLE_ADMIN_PASSWORD": "mine"}

    settings = ConsoleSettings.from_env("127.0.0.1", env)

    assert settings.admin == Login("dev", "mine") and not settings.made_up_login


def test_passwords_and_the_secret_key_never_show_in_a_repr():
    settings = ConsoleSettings.from_env("0.0.0.0", {**FULL, "CONSOLE_FLOWER_URL": "http://flower:5555/"})

    assert "admin-pass" not in repr(settings) and "viewer-pass" not in repr(settings) and KEY not in repr(settings)
    assert settings.flower_url == "http://flower:5555"


@pytest.mark.parametrize(
    ("user", "password", "role"),
    [
        ("ada", "admin-pass", Role.ADMIN),
        ("vic", "viewer-pass", Role.VIEWER),
        ("ada", "viewer-pass", None),
        ("vic", "admin-pass", None),
        ("ada", "", None),
        ("", "", None),
        ("ADA", "admin-pass", None),
    ],
)
def test_a_login_gives_its_own_role_and_nothing_else(user, password, role):
    settings = ConsoleSettings(admin=Login("ada", "admin-pass"), viewer=Login("vic", "viewer-pass"), secret_key=KEY)

    assert authenticate(settings, user, password) == role


@pytest.mark.parametrize(("role", "allowed"), [(Role.ADMIN, True), (Role.VIEWER, False), (None, False), ("x", False)])
def test_only_the_admin_role_may_change_anything(role, allowed):
    assert may_change(role) is allowed


@pytest.mark.parametrize(
    ("expected", "given", "ok"),
    [("abc", "abc", True), ("abc", "abd", False), ("abc", None, False), (None, "abc", False), ("", "", False)],
)
def test_a_csrf_token_passes_only_when_it_is_the_sessions_own(expected, given, ok):
    assert csrf_ok(expected, given) is ok


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"status": "done"}, "status: 'done' is not one of created"),
        ({"since": "yesterday"}, "since: 'yesterday' is neither a date"),
        ({"until": "soon"}, "until: 'soon' is neither a date"),
        ({"limit": "0"}, "limit: '0' is not a whole number from 1 to 1000"),
        ({"limit": "many"}, "limit: 'many' is not a whole number"),
    ],
)
def test_a_bad_job_filter_is_refused_naming_the_field(args, field):
    with pytest.raises(BadFilter, match=field):
        parse_job_filter(args, NOW)


def test_a_job_filter_reads_every_field_and_leaves_empty_ones_out():
    wanted = parse_job_filter(
        {"status": "dead", "batch": " icons ", "model": "flux.1-dev", "tag": "weapon", "since": "1d", "until": ""}, NOW
    )

    assert (wanted.status, wanted.batch, wanted.model_id) == (JobStatus.DEAD, "icons", "flux.1-dev")
    assert wanted.tag == "weapon"
    assert (wanted.since, wanted.until, wanted.limit) == (NOW - timedelta(days=1), None, 100)


@dataclass
class Spent:
    cu_cost: object = None
    cu_estimate: object = None


@pytest.mark.parametrize(
    ("jobs", "items", "spent", "estimated"),
    [
        ([object(), object()], 4, None, None),  # rows from before creative units were recorded
        ([Spent(2.0), Spent(None)], 4, 2.0, 8.0),  # estimate from what items cost so far
        ([Spent(2.0, 3.0), Spent(None, 3.0)], 4, 2.0, 12.0),  # the jobs' own estimates win
        ([Spent(True), Spent("7")], 2, None, None),  # not numbers: not costs
    ],
)
def test_a_batch_costs_what_its_jobs_record_and_is_estimated_from_them(jobs, items, spent, estimated):
    cost = batch_cost(jobs, items)

    assert (cost.spent, cost.estimated) == (spent, estimated)


def test_a_job_without_cost_columns_has_no_cost():
    assert cost_of(object()) is None and cost_of(Spent(1.5)) == 1.5


@pytest.mark.parametrize(
    ("record", "name"),
    [
        ({"file": "sword.png"}, "sword.png"),
        ({"file": "../etc/passwd"}, None),
        ({"file": "/abs.png"}, None),
        ({"file": "a\\b.png"}, None),
        ({"file": ".."}, None),
        ({"file": 3}, None),
        ("sword.png", None),
    ],
)
def test_only_a_bare_recorded_file_name_is_ever_served(record, name):
    assert plain_file_name(record) == name


def test_recorded_files_are_told_apart_as_images_or_links():
    files = shown_files([{"file": "a.png"}, {"file": "../x.png"}, {"file": "b.glb"}])

    assert [(f.index, f.name, f.is_image) for f in files] == [(0, "a.png", True), (2, "b.glb", False)]


def test_a_status_history_keeps_each_steps_extra_fields():
    steps = timeline([{"date": "2026-01-01T00:00:00Z", "status": "queued"}, {"status": "failure", "reason": "nsfw"}, 5])

    assert [(s.when, s.status, s.details) for s in steps] == [
        ("2026-01-01T00:00:00Z", "queued", {}),
        ("?", "failure", {"reason": "nsfw"}),
        ("?", "5", {}),
    ]
