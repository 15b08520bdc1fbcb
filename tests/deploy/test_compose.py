"""docker-compose.yml and .env.example: the parts a deployment relies on."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flower.options import options as flower_options

from tests.deploy.files import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    EnvEntry,
    command_of,
    environment_of,
    is_reference,
    load_compose,
    read_env_example,
    variables_used,
)
from worker import lanes
from worker.settings import ENV_NAMES, Settings

# Workers of one lane each, started with `--profile lanes`.
LANE_WORKERS = {
    "worker-submit": "scenario.submit",
    "worker-watch": "scenario.watch",
    "worker-batch": "scenario.batch,scenario.download",
}

SECRET_NAME = re.compile(r"PASSWORD|SECRET|AUTH")
# The variables of .env.example that hold credentials (SCENARIO_AUTH_PAUSE_S does not).
CREDENTIAL_NAME = re.compile(r"PASSWORD|SECRET|_BASIC_AUTH$|_API_KEY$")
# user:password@ inside a URL.
URL_CREDENTIALS = re.compile(r"://[^/:@\s]+:([^@\s]+)@")
DEFAULT_NOTE = re.compile(r"\(default ([^)]+)\)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, EnvEntry]:
    return read_env_example(ENV_EXAMPLE.read_text())


def test_the_stack_has_the_broker_the_database_and_every_role(services):
    assert set(services) == {"redis", "postgres", "migrate", "worker", "flower", "console", "simulator"} | set(
        LANE_WORKERS
    )


def test_the_file_follows_the_compose_spec_without_a_version_key(compose):
    assert "version" not in compose


def test_redis_is_version_7_and_reports_its_health(services):
    redis = services["redis"]
    assert redis["image"] == "redis:7"
    assert "ping" in " ".join(redis["healthcheck"]["test"])


def test_postgres_is_version_16_with_a_pg_isready_healthcheck(services):
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_postgres_keeps_its_data_in_a_named_volume(compose, services):
    mounts = [entry.split(":") for entry in services["postgres"]["volumes"]]
    sources = {source for source, target, *_ in mounts if target == "/var/lib/postgresql/data"}
    assert len(sources) == 1
    assert sources <= set(compose["volumes"])


def test_the_app_services_share_one_image(services):
    images = {services[name]["image"] for name in ("migrate", "worker", "flower", "console", "simulator")}
    assert len(images) == 1


def test_migrate_runs_the_schema_upgrade_once_postgres_is_healthy(services):
    migrate = services["migrate"]
    assert command_of(migrate) == "scenario-worker db upgrade"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    # A one-shot: restarting it after success would run the upgrade forever.
    assert migrate.get("restart", "no") == "no"


@pytest.mark.parametrize("name", ["worker", "flower"])
def test_the_celery_side_waits_for_the_migration_and_a_healthy_redis(services, name):
    depends_on = services[name]["depends_on"]
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_the_worker_runs_celery_with_a_configurable_concurrency(services):
    command = command_of(services["worker"])
    assert command.startswith("celery -A worker worker ")
    assert "--loglevel=INFO" in command
    assert re.search(r"--concurrency=\$\{WORKER_CONCURRENCY:-\d+\}", command)


def test_the_worker_can_be_scaled_since_it_has_no_fixed_name_or_host_port(services):
    worker = services["worker"]
    assert "container_name" not in worker
    assert not worker.get("ports")


def test_no_service_pins_a_container_name(services):
    assert [name for name, service in services.items() if "container_name" in service] == []


def test_flower_publishes_port_5555(services):
    flower = services["flower"]
    assert command_of(flower).startswith("celery -A worker flower")
    assert "--port=5555" in command_of(flower)
    targets = [str(entry).rsplit(":", 1)[-1] for entry in flower["ports"]]
    assert targets == ["5555"]


def test_flower_asks_for_a_login_taken_from_the_environment(services):
    flower = services["flower"]
    from_env = environment_of(flower).get("FLOWER_BASIC_AUTH")
    from_flag = re.search(r"--basic-auth=(\S+)", command_of(flower))
    value = from_env if from_env is not None else (from_flag.group(1) if from_flag else None)
    assert is_reference(value), value
    assert "FLOWER_BASIC_AUTH" in value


def test_flower_gets_only_flower_variables_that_flower_knows(services):
    # Flower turns every FLOWER_* variable into an option and stops on an unknown one.
    names = [name for name in environment_of(services["flower"]) if name.startswith("FLOWER_")]
    unknown = [name for name in names if name.removeprefix("FLOWER_").lower() not in flower_options]
    assert names and unknown == []


def test_the_flower_login_is_not_handed_to_the_other_services(services):
    holders = [name for name, service in services.items() if "FLOWER_BASIC_AUTH" in environment_of(service)]
    assert holders == ["flower"]


def test_the_simulator_starts_only_under_the_dev_profile(services):
    simulator = services["simulator"]
    assert simulator["profiles"] == ["dev"]
    command = command_of(simulator)
    assert "scenario-worker simulator --host 0.0.0.0 --port 8765" in command


def test_every_other_service_starts_without_a_profile(services):
    assert {name for name, service in services.items() if "profiles" in service} == {"simulator", *LANE_WORKERS}


@pytest.mark.parametrize(("name", "queues"), LANE_WORKERS.items())
def test_the_lanes_profile_has_a_worker_pool_per_lane(services, name, queues):
    worker = services[name]
    assert worker["profiles"] == ["lanes"]
    assert command_of(worker).startswith("celery -A worker worker ")
    assert command_of(worker).endswith(f" -Q {queues}")
    assert environment_of(worker) == environment_of(services["worker"])


def test_the_lane_workers_together_serve_every_lane(services):
    served = {q for name in LANE_WORKERS for q in command_of(services[name]).split(" -Q ")[1].split(",")}
    assert served == set(lanes.ALL)


@pytest.mark.parametrize("name", ["migrate", "worker", "flower", "console"])
def test_the_app_talks_to_the_compose_broker_and_database(services, name):
    env = environment_of(services[name])
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://scenario:${POSTGRES_PASSWORD")
    assert env["DATABASE_URL"].endswith("@postgres:5432/scenario")


@pytest.mark.parametrize("name", ["migrate", "worker", "flower", "console"])
def test_every_setting_reaches_the_app_containers(services, name):
    missing = set(ENV_NAMES.values()) - set(environment_of(services[name]))
    assert missing == set()


def test_secret_variables_hold_references_never_values(services):
    offenders = {}
    for name, service in services.items():
        for variable, value in environment_of(service).items():
            if SECRET_NAME.search(variable) and not is_reference(value):
                offenders[f"{name}.{variable}"] = value
    assert offenders == {}


def test_passwords_inside_urls_are_references(services):
    offenders = []
    for service in services.values():
        for value in environment_of(service).values():
            match = URL_CREDENTIALS.search(value)
            if match and not is_reference(match.group(1)):
                offenders.append(value)
    assert offenders == []


def test_commands_carry_no_literal_credentials(services):
    # `$$NAME` is left for the container's shell to expand; `${NAME}` for compose.
    values = [
        value
        for service in services.values()
        for value in re.findall(r"--(?:api-secret|api-key|basic-auth)[= ](\S+)", command_of(service))
    ]
    assert values, "the simulator's credentials flags were not found"
    assert [value for value in values if not re.fullmatch(r'"?\$\$?\{?[A-Z_]+\}?"?', value)] == []


def test_every_variable_the_compose_file_uses_is_listed_in_env_example(env_example):
    missing = variables_used(COMPOSE_FILE.read_text()) - set(env_example)
    assert missing == set()


def test_every_setting_is_listed_in_env_example(env_example):
    missing = set(ENV_NAMES.values()) - set(env_example)
    assert missing == set()


def test_env_example_lists_the_compose_secrets(env_example):
    assert {"POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH", "SCENARIO_API_KEY", "SCENARIO_API_SECRET"} <= set(env_example)
    assert {"CONSOLE_ADMIN_PASSWORD", "CONSOLE_VIEWER_PASSWORD", "CONSOLE_SECRET_KEY"} <= set(env_example)


def test_every_variable_in_env_example_has_a_comment_line(env_example):
    assert [entry.name for entry in env_example.values() if not entry.comment] == []


def test_env_example_holds_only_placeholder_secrets(env_example):
    secrets = [entry for entry in env_example.values() if CREDENTIAL_NAME.search(entry.name)]
    assert len(secrets) == 10
    assert [entry.name for entry in secrets if "change-me" not in entry.value] == []


def test_the_defaults_written_in_env_example_are_the_real_defaults(env_example):
    defaults = Settings()
    by_env_name = {env_name: field for field, env_name in ENV_NAMES.items()}
    checked = 0
    for entry in env_example.values():
        if entry.name not in by_env_name or entry.value:
            continue
        note = DEFAULT_NOTE.search(entry.comment)
        assert note, f"{entry.name} is left empty, so its comment must say its default"
        expected = getattr(defaults, by_env_name[entry.name])
        assert _same(note.group(1), expected), f"{entry.name}: comment says {note.group(1)}, code says {expected}"
        checked += 1
    assert checked >= 15


def _same(written: str, actual: object) -> bool:
    if isinstance(actual, bool):
        return written.lower() == str(actual).lower()
    if isinstance(actual, (int, float)):
        return float(written) == float(actual)
    return written == actual


# --- health and shutdown ---

# The migration is a one-shot: it exits when done, so there is no health to report.
ONE_SHOTS = {"migrate"}
WORKERS = ["worker", *LANE_WORKERS]


def _healthcheck(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a compose duration: {duration}"
    return sum(float(number) * units[unit] for number, unit in parts)


def test_every_long_running_service_reports_its_health(services):
    missing = [name for name, service in services.items() if name not in ONE_SHOTS and "healthcheck" not in service]
    assert missing == []
    assert services["migrate"].get("restart") == "no"


@pytest.mark.parametrize("name", WORKERS)
def test_workers_report_their_health_through_the_health_command(services, name):
    assert _healthcheck(services[name]) == "CMD scenario-worker health --worker --max-age-s 60"


@pytest.mark.parametrize(("name", "url"), [("console", "/healthz"), ("flower", "/healthcheck")])
def test_the_web_services_are_checked_on_their_own_port(services, name, url):
    port = str(services[name]["ports"][0]).rsplit(":", 1)[-1]
    assert _healthcheck(services[name]).startswith("CMD python -c ")
    assert f"http://127.0.0.1:{port}{url}" in _healthcheck(services[name])


def test_the_console_is_served_by_gunicorn(services):
    # `scenario-worker console` serves with gunicorn unless CONSOLE_DEV_MODE is true.
    command = command_of(services["console"])
    assert command.startswith("scenario-worker console --host 0.0.0.0 --port 8080 --workers")
    assert "CONSOLE_DEV_MODE" not in str(services["console"].get("environment", {}))


@pytest.mark.parametrize("name", WORKERS)
def test_a_stopping_worker_has_time_to_finish_its_longest_task(services, name):
    longest_s = max(Settings().time_limit_s, Settings(broker_url="amqp://guest:guest@rabbitmq//").time_limit_s)
    assert _seconds(services[name]["stop_grace_period"]) >= longest_s


def test_the_workers_run_the_recovery_so_no_beat_service_is_needed(services, env_example):
    assert [name for name, service in services.items() if " beat" in command_of(service)] == []
    # Empty: the default, the workers' own timer, which must be on.
    assert env_example["SCENARIO_RECOVERY_INTERVAL_S"].value == ""
    assert Settings().recovery_interval_s > 0
