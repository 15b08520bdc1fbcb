from __future__ import annotations

import pytest

from worker.settings import REAL_API_URL, Settings, SettingsError, mask_url_password


def test_defaults_point_at_the_real_service_a_local_redis_and_a_sqlite_file():
    settings = Settings.from_env({})
    assert settings.scenario_api_url == REAL_API_URL
    assert settings.broker_url == "redis://localhost:6379/0"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.db_schema == "scenario"
    assert not settings.has_credentials


def test_values_are_read_from_the_environment_with_their_types():
    settings = Settings.from_env(
        {
            "SCENARIO_API_KEY": "k",
            "SCENARIO_API_SECRET": "s",
            "SCENARIO_MAX_RETRIES": "3",
            "SCENARIO_POLL_GROWTH": "2.5",
            "SCENARIO_RETRY_JITTER": "off",
        }
    )
    assert settings.has_credentials
    assert settings.max_retries == 3
    assert settings.poll_growth == 2.5
    assert settings.retry_jitter is False


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SCENARIO_MAX_RETRIES": "many"}, "SCENARIO_MAX_RETRIES"),
        ({"SCENARIO_DB_SCHEMA": "Scenario"}, "SCENARIO_DB_SCHEMA"),
        ({"SCENARIO_DB_SCHEMA": "1st"}, "SCENARIO_DB_SCHEMA"),
        ({"SCENARIO_DB_SCHEMA": "app; drop table jobs"}, "SCENARIO_DB_SCHEMA"),
        ({"SCENARIO_DB_SCHEMA": "s" * 64}, "SCENARIO_DB_SCHEMA"),
        ({"SCENARIO_POLL_MAX_S": "-1"}, "SCENARIO_POLL_MAX_S"),
        ({"SCENARIO_RETRY_JITTER": "maybe"}, "SCENARIO_RETRY_JITTER"),
        ({"SCENARIO_POLL_GROWTH": "0.5"}, "SCENARIO_POLL_GROWTH"),
        ({"SCENARIO_MAX_DELIVERIES": "0"}, "SCENARIO_MAX_DELIVERIES"),
        ({"SCENARIO_VISIBILITY_TIMEOUT_S": "30"}, "SCENARIO_VISIBILITY_TIMEOUT_S"),
        ({"SCENARIO_LOG_LEVEL": "verbose"}, "SCENARIO_LOG_LEVEL"),
        ({"SCENARIO_LOG_FORMAT": "xml"}, "SCENARIO_LOG_FORMAT"),
        ({"SCENARIO_LOG_FORMAT": "JSON"}, "SCENARIO_LOG_FORMAT"),
        ({"SCENARIO_HEARTBEAT_INTERVAL_S": "0"}, "SCENARIO_HEARTBEAT_INTERVAL_S"),
        ({"SCENARIO_BREAKER_FAILURES": "-1"}, "SCENARIO_BREAKER_FAILURES"),
        ({"SCENARIO_BREAKER_PROBE_S": "0"}, "SCENARIO_BREAKER_PROBE_S"),
        ({"SCENARIO_LATE_SUBMIT_S": "0"}, "SCENARIO_LATE_SUBMIT_S"),
        ({"SCENARIO_RECONCILE_INTERVAL_S": "-5"}, "SCENARIO_RECONCILE_INTERVAL_S"),
        ({"SCENARIO_WEBHOOK_TOLERANCE_S": "0"}, "SCENARIO_WEBHOOK_TOLERANCE_S"),
        ({"SCENARIO_WEBHOOK_TOLERANCE_S": "soon"}, "SCENARIO_WEBHOOK_TOLERANCE_S"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_the_secret_never_shows_in_repr():
    settings = Settings.from_env({"SCENARIO_API_SECRET": "hunter2-secret"})
    assert "hunter2-secret" not in repr(settings)


def test_the_webhook_secret_is_read_and_never_shows_in_repr():
    settings = Settings.from_env({"SCENARIO_WEBHOOK_SECRET": "whsec_aHVudGVyMi1ob29r"})
    assert settings.webhook_secret == "whsec_aHVudGVyMi1ob29r"
    assert "aHVudGVyMi1ob29r" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("postgresql://user:pw@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("sqlite:///jobs.db", "sqlite:///jobs.db"),
    ],
)
def test_passwords_in_urls_are_masked(url, masked):
    assert mask_url_password(url) == masked


@pytest.mark.parametrize(
    ("env", "fleet_redis_url"),
    [
        ({}, "redis://localhost:6379/0"),
        ({"CELERY_BROKER_URL": "redis://broker:6379/2"}, "redis://broker:6379/2"),
        (
            {"CELERY_BROKER_URL": "redis://broker:6379/2", "SCENARIO_REDIS_URL": "redis://state:6379/1"},
            "redis://state:6379/1",
        ),
        ({"CELERY_BROKER_URL": "amqp://guest:guest@rabbit:5672//"}, None),
        (
            {"CELERY_BROKER_URL": "amqp://guest:guest@rabbit:5672//", "SCENARIO_REDIS_URL": "redis://state:6379/1"},
            "redis://state:6379/1",
        ),
        ({"CELERY_BROKER_URL": "filesystem:///tmp/broker"}, None),
    ],
)
def test_the_fleets_shared_state_is_in_scenario_redis_url_or_else_a_redis_broker(env, fleet_redis_url):
    assert Settings.from_env(env).fleet_redis_url == fleet_redis_url


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SCENARIO_REDIS_URL": "amqp://rabbit//"}, "SCENARIO_REDIS_URL"),
        ({"CELERY_BROKER_URL": "amqp://rabbit//", "SCENARIO_FLEET_REQUESTS_PER_S": "5"}, "SCENARIO_REDIS_URL"),
        (
            {"CELERY_BROKER_URL": "amqp://rabbit//", "SCENARIO_RETRY_BACKOFF_MAX_S": "1200"},
            "SCENARIO_RETRY_BACKOFF_MAX_S",
        ),
    ],
)
def test_a_setting_that_cannot_work_with_the_broker_is_refused_naming_the_variable(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_the_visibility_timeout_binds_only_a_redis_broker():
    # RabbitMQ gives a message back when its worker's connection drops; it has no visibility timeout.
    settings = Settings.from_env({"CELERY_BROKER_URL": "amqp://rabbit//", "SCENARIO_VISIBILITY_TIMEOUT_S": "100"})
    assert settings.uses_amqp and settings.visibility_timeout_s == 100
