from __future__ import annotations

import kombu.exceptions
import pytest
import redis.exceptions
import sqlalchemy.exc

from worker.fleet.errors import FleetUnavailable, SlotWait, SubmitsPaused
from worker.fleet.ratelimit import RateLimiterUnavailable
from worker.retrying import LookAgain
from worker.scenario.errors import NetworkError, RateLimited
from worker.settings import Settings, SettingsError
from worker.tasks.base import GenerationTask, retry_kind
from worker.waits import (
    AMQP_CONSUMER_TIMEOUT_S,
    RETRY_AFTER_MARGIN_S,
    WAIT_FLOOR_S,
    RetryKind,
    backoff_s,
    countdown_cap_s,
    fleet_wait_s,
    gives_up,
    recovered_within_s,
    redelivery_horizon_s,
    retry_wait_s,
    stalled_after_s,
    waiter_recheck_s,
)


@pytest.mark.parametrize(
    ("tries", "rand", "jitter", "expected_s"),
    [
        (0, 0.0, False, 2.0),
        (1, 0.0, False, 4.0),
        (3, 0.0, False, 16.0),
        (10, 0.0, False, 20.0),  # capped at the maximum
        (2, 0.0, True, 4.0),  # the fixed half of 8 s
        (2, 1.0, True, 8.0),  # the fixed half and all the random half
        (2, 0.5, True, 6.0),
    ],
)
def test_backoff_doubles_up_to_its_maximum_and_jitter_keeps_half_of_it(tries, rand, jitter, expected_s):
    assert backoff_s(tries, base_s=2, max_s=20, jitter=jitter, rand=lambda: rand) == pytest.approx(expected_s)


@pytest.mark.parametrize("base_s", [0, 0.01, 0.2])
def test_no_backoff_is_shorter_than_the_floor_even_with_zero_jitter(base_s):
    assert backoff_s(0, base_s=base_s, max_s=20, jitter=True, rand=lambda: 0.0) == WAIT_FLOOR_S


@pytest.mark.parametrize(
    ("proposed_s", "retry_after_s", "cap_s", "expected_s"),
    [
        (None, None, 100, WAIT_FLOOR_S),
        (0.0, None, 100, WAIT_FLOOR_S),
        (3.0, None, 100, 3.0),
        (1.0, 10.0, 100, 10.0 + RETRY_AFTER_MARGIN_S),  # never before Retry-After
        (30.0, 10.0, 100, 30.0),  # a longer backoff stands
        (1.0, 0.0, 100, 1.0),  # a Retry-After of 0 asks for nothing
        (50.0, None, 20, 20.0),  # clamped under the broker's horizon
        (1.0, 500.0, 20, 20.0),
    ],
)
def test_a_retry_waits_its_backoff_never_less_than_retry_after_and_never_past_the_cap(
    proposed_s, retry_after_s, cap_s, expected_s
):
    assert retry_wait_s(proposed_s, retry_after_s, cap_s=cap_s) == pytest.approx(expected_s)


@pytest.mark.parametrize(
    ("remaining_s", "hop_s", "expected_s"),
    [
        (None, 20, WAIT_FLOOR_S),
        (0.0, 20, WAIT_FLOOR_S),
        (3.0, 20, 3.0 + RETRY_AFTER_MARGIN_S),
        (3600.0, 20, 20.0),  # a long pause is waited out in hops
    ],
)
def test_a_fleet_wait_lasts_what_is_left_in_hops_no_longer_than_the_hop(remaining_s, hop_s, expected_s):
    assert fleet_wait_s(remaining_s, hop_s=hop_s) == pytest.approx(expected_s)


@pytest.mark.parametrize(
    ("kind", "tries_spent", "elapsed_s", "expected"),
    [
        (RetryKind.SCENARIO, 3, 0.0, False),
        (RetryKind.SCENARIO, 4, 0.0, True),  # three tries allowed, a fourth failure ends it
        (RetryKind.OUTAGE, 50, 599.0, False),  # an outage is not counted, it is timed
        (RetryKind.OUTAGE, 1, 601.0, True),
        (RetryKind.WAIT, 1000, 10_000.0, False),
    ],
)
def test_scenario_errors_give_up_by_count_outages_by_time_and_waits_never(kind, tries_spent, elapsed_s, expected):
    decided = gives_up(kind, tries_spent=tries_spent, max_tries=3, outage_elapsed_s=elapsed_s, outage_budget_s=600)
    assert decided is expected


@pytest.mark.parametrize(
    ("uses_amqp", "visibility_timeout_s", "horizon_s"),
    [(False, 3600, 3600.0), (False, 6, 6.0), (True, 3600, AMQP_CONSUMER_TIMEOUT_S)],
)
def test_the_redelivery_horizon_is_the_visibility_timeout_or_rabbitmqs_consumer_timeout(
    uses_amqp, visibility_timeout_s, horizon_s
):
    assert redelivery_horizon_s(uses_amqp=uses_amqp, visibility_timeout_s=visibility_timeout_s) == horizon_s
    assert countdown_cap_s(horizon_s) == horizon_s / 2


def test_with_default_settings_a_dead_workers_jobs_are_sent_again_within_a_minute():
    settings = Settings.from_env({})
    assert settings.stalled_after == stalled_after_s(settings.longest_countdown_s) == 40.0
    assert recovered_within_s(stalled_after_s=settings.stalled_after, recovery_interval_s=10.0) <= 60.0
    assert settings.soft_time_limit_s < settings.time_limit_s < settings.redelivery_horizon_s


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SCENARIO_AUTH_PAUSE_S": "7200", "SCENARIO_VISIBILITY_TIMEOUT_S": "3600"}, "SCENARIO_AUTH_PAUSE_S"),
        ({"SCENARIO_AUTH_PAUSE_S": "0"}, "SCENARIO_AUTH_PAUSE_S"),
        ({"SCENARIO_OUTAGE_BUDGET_S": "0"}, "SCENARIO_OUTAGE_BUDGET_S"),
        ({"SCENARIO_FLEET_WAIT_HOP_S": "4000"}, "SCENARIO_FLEET_WAIT_HOP_S"),
        ({"SCENARIO_STALLED_AFTER_S": "10"}, "SCENARIO_STALLED_AFTER_S"),
        ({"SCENARIO_RECOVERY_INTERVAL_S": "-1"}, "SCENARIO_RECOVERY_INTERVAL_S"),
        ({"SCENARIO_TASK_TIME_LIMIT_S": "4000"}, "SCENARIO_TASK_TIME_LIMIT_S"),
        ({"SCENARIO_TASK_SOFT_TIME_LIMIT_S": "200", "SCENARIO_TASK_TIME_LIMIT_S": "100"}, "SOFT_TIME_LIMIT_S"),
    ],
)
def test_a_wait_that_would_outlast_the_broker_or_mean_nothing_is_refused_naming_the_variable(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_a_short_visibility_timeout_shortens_the_default_time_limits_and_hops_under_it():
    settings = Settings.from_env(
        {
            "SCENARIO_VISIBILITY_TIMEOUT_S": "6",
            "SCENARIO_AUTH_PAUSE_S": "2",
            "SCENARIO_RETRY_BACKOFF_MAX_S": "2",
            "SCENARIO_POLL_MAX_S": "1",
            "SCENARIO_SWEEP_STALE_AFTER_S": "2",
        }
    )
    assert settings.time_limit_s < 6
    assert settings.fleet_hop_s == 3.0


def _raised_from(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (redis.exceptions.ConnectionError("Redis is gone"), RetryKind.OUTAGE),
        (redis.exceptions.TimeoutError("Redis is slow"), RetryKind.OUTAGE),
        (kombu.exceptions.OperationalError("the broker is gone"), RetryKind.OUTAGE),
        (sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("refused")), RetryKind.OUTAGE),
        (sqlalchemy.exc.InterfaceError("SELECT 1", {}, Exception("closed")), RetryKind.OUTAGE),
        (sqlalchemy.exc.TimeoutError("pool"), RetryKind.OUTAGE),
        (FleetUnavailable("Redis is gone"), RetryKind.OUTAGE),
        (LookAgain("the jobs list failed"), RetryKind.WAIT),
        (SubmitsPaused("paused", retry_after_s=3.0), RetryKind.WAIT),
        (SlotWait("no slot"), RetryKind.WAIT),
        (RateLimited("slow down", status=429, retry_after_s=1.0), RetryKind.SCENARIO),
        (NetworkError("connection reset"), RetryKind.SCENARIO),
        (_raised_from(NetworkError("the budget cannot be read"), RateLimiterUnavailable("gone")), RetryKind.OUTAGE),
    ],
)
def test_infrastructure_errors_are_outages_fleet_waits_are_waits_and_the_rest_are_scenarios(error, kind):
    assert retry_kind(error) is kind


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.ConnectionError("Redis is gone"),
        kombu.exceptions.OperationalError("the broker is gone"),
        sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("refused")),
    ],
)
def test_every_outage_is_retried_by_celery(error):
    assert isinstance(error, GenerationTask.autoretry_for)


@pytest.mark.parametrize(
    ("place", "cap", "expected_s"),
    [
        (0, 4, 10.0),  # next in line: looks often
        (7, 4, 10.0),  # within two rounds of the cap
        (8, 4, 20.0),  # further back: woken by a release anyway, looks rarely
        (500, 4, 20.0),
        (500, 0, 10.0),  # no cap of our own: no rounds to count
    ],
)
def test_a_waiter_far_back_in_the_queue_looks_again_less_often(place, cap, expected_s):
    assert waiter_recheck_s(10.0, 20.0, place=place, cap=cap) == expected_s
