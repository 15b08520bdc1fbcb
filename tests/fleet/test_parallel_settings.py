"""The settings of the fleet's parallel slots, and how a parallel-limit refusal is told apart."""

from __future__ import annotations

import pytest
import redis

from worker.runtime import Runtime
from worker.scenario.errors import error_from_response
from worker.settings import Settings, SettingsError
from worker.tasks.slots import is_parallel_limit, parallel_limit_of


def test_the_parallel_settings_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "SCENARIO_PARALLEL_JOBS": "5",
            "SCENARIO_SLOT_LEASE_S": "90",
            "SCENARIO_LEARNED_CAP_S": "300",
            "SCENARIO_TEAM_ID": "team_abc",
        }
    )
    assert (settings.parallel_jobs, settings.slot_lease_s, settings.learned_cap_s) == (5, 90.0, 300.0)
    assert settings.scenario_team_id == "team_abc"


def test_by_default_there_is_no_cap_of_our_own_and_no_team():
    settings = Settings.from_env({})
    assert settings.parallel_jobs == 0 and settings.scenario_team_id == ""


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SCENARIO_PARALLEL_JOBS": "-1"}, "SCENARIO_PARALLEL_JOBS"),
        ({"SCENARIO_PARALLEL_JOBS": "five"}, "SCENARIO_PARALLEL_JOBS"),
        ({"SCENARIO_SLOT_LEASE_S": "0"}, "SCENARIO_SLOT_LEASE_S"),
        ({"SCENARIO_LEARNED_CAP_S": "-5"}, "SCENARIO_LEARNED_CAP_S"),
        # A lease as long as the visibility timeout outlives a dead worker's redelivered message.
        ({"SCENARIO_PARALLEL_JOBS": "5", "SCENARIO_SLOT_LEASE_S": "3600"}, "SCENARIO_SLOT_LEASE_S"),
        # A lease shorter than the gap between two looks hands a running job's slot away.
        ({"SCENARIO_PARALLEL_JOBS": "5", "SCENARIO_SLOT_LEASE_S": "20"}, "SCENARIO_SLOT_LEASE_S"),
    ],
)
def test_a_bad_parallel_setting_names_its_variable(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_the_lease_is_not_checked_against_polling_when_there_is_no_cap():
    assert Settings.from_env({"SCENARIO_SLOT_LEASE_S": "3600"}).slot_lease_s == 3600


def refused(body, status: int = 429):
    return error_from_response(status, body, {})


@pytest.mark.parametrize(
    ("error", "parallel", "limit"),
    [
        (refused({"details": {"actionName": "parallelInferences", "actionLimit": 3}}), True, 3),
        (refused({"details": {"actionName": "parallelCustomJobs", "actionLimit": 10}}), True, 10),
        (refused({"details": {"actionName": "parallelInferences"}}), True, None),
        (refused({"reason": "Too many jobs", "details": {"actionLimit": 4}, "remainingSeconds": 3}), True, 4),
        (refused({"code": "parallelInferences", "message": "too many"}), True, None),
        (refused({"details": {"actionName": "parallelInferences", "actionLimit": 0}}), True, None),
        (refused({"code": "RATE_LIMITED", "message": "slow down"}), False, None),
        (refused({"reason": "too many parallel inferences"}), False, None),  # wording alone decides nothing
        (refused(None), False, None),
        (refused({"details": {"actionName": "requestsPerMinute", "actionLimit": 60}}), False, 60),
        (refused({"code": "parallelInferences"}, status=503), False, None),
    ],
)
def test_a_parallel_limit_refusal_is_told_from_a_request_rate_429(error, parallel, limit):
    assert is_parallel_limit(error) is parallel
    assert parallel_limit_of(error) == limit


@pytest.fixture
def fleet_runtime(redis_url, tmp_path):
    def build(**overrides):
        settings = Settings.from_env(
            {"CELERY_BROKER_URL": redis_url, "DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}"}, **overrides
        )
        built = Runtime.from_settings(settings)
        made.append(built)
        return built

    made: list = []
    yield build
    for built in made:
        built.close()
    redis.Redis.from_url(redis_url).delete("{scenario-worker:slots}:learned")


@pytest.mark.redis
def test_the_plan_limit_read_for_the_team_caps_the_fleet(fleet_runtime):
    rt = fleet_runtime(parallel_jobs=10, scenario_team_id="team_abc", learned_cap_s=30.0)
    asked = []
    rt.team_limit_reader = lambda team_id: asked.append(team_id) or 4

    assert rt.learn_team_limit() == 4
    assert asked == ["team_abc"]
    assert rt.slots.cap == 4


@pytest.mark.redis
@pytest.mark.parametrize(("team_id", "reader"), [("", lambda team_id: 4), ("team_abc", None)])
def test_without_a_team_or_a_reader_no_plan_limit_is_learned(fleet_runtime, team_id, reader):
    rt = fleet_runtime(parallel_jobs=10, scenario_team_id=team_id)
    rt.team_limit_reader = reader

    assert rt.learn_team_limit() is None
    assert rt.slots.cap == 10
