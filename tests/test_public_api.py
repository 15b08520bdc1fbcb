"""The public API: one error root for callers, settings from code, and nothing of the layers below escaping.

A stopped broker and a stopped database are real closed ports here: each public call must
answer with our own class, never a kombu, redis or SQLAlchemy exception.
"""

from __future__ import annotations

from collections.abc import Iterator

import kombu.exceptions
import pytest
import redis.exceptions
import sqlalchemy.exc

import worker
from tests.harness import free_port
from worker import (
    BrokerUnavailable,
    DatabaseError,
    DatabaseUnavailable,
    FleetUnavailable,
    InputError,
    JobOptions,
    JobStatus,
    SettingsError,
    WorkerError,
    cancel_job,
    configure,
    enqueue_generation,
    enqueue_many,
    get_job,
    runtime,
)
from worker.db.migrate import upgrade
from worker.edge import at_the_edge

QUICK = {"connect_timeout_s": 0.5, "read_timeout_s": 1.0, "max_retries": 1}


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture(autouse=True)
def _own_runtime() -> Iterator[None]:
    yield
    runtime.current().close()
    runtime.forget()


def test_every_public_name_is_importable_from_the_package_and_every_error_is_a_worker_error():
    for name in worker.__all__:
        assert getattr(worker, name) is not None, name
    for name in ("BrokerUnavailable", "DatabaseUnavailable", "IdempotencyConflict", "InputError", "JobNotFound"):
        assert issubclass(getattr(worker, name), WorkerError), name
    assert issubclass(worker.InputError, ValueError) and issubclass(worker.JobNotFound, LookupError)
    from worker import exceptions

    assert all(issubclass(getattr(exceptions, name), WorkerError) for name in exceptions.__all__)


def test_an_unknown_name_on_the_package_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        worker.no_such_thing  # noqa: B018


def test_configure_sets_the_settings_from_code_on_top_of_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENARIO_POLL_MAX_S", "7")
    settings = configure(
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
        broker_url="redis://127.0.0.1:6379/9",
        api_key="key-1",
        api_secret="secret-1",
        read_timeout_s=12,
    )

    assert runtime.current().settings is settings
    assert settings.database_url.endswith("jobs.db") and settings.scenario_api_key == "key-1"
    assert settings.read_timeout_s == 12.0 and settings.poll_max_s == 7.0
    from worker.celery_app import app

    assert app.conf.broker_url == "redis://127.0.0.1:6379/9"


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"databse_url": "sqlite://"}, "no setting is called 'databse_url'; did you mean 'database_url'?"),
        ({"read_timeout_s": "ten"}, "read_timeout_s must be a number, got 'ten'"),
        ({"parallel_jobs": 2.5}, "parallel_jobs must be a whole number"),
        ({"batched_polling": "yes"}, "batched_polling must be True or False"),
        ({"read_timeout_s": 0}, "SCENARIO_READ_TIMEOUT_S must be greater than 0"),
        ({"api_secret": 12345}, "api_secret must be a string, got int"),
    ],
)
def test_configure_refuses_a_wrong_name_or_value_by_name_and_keeps_the_settings_in_use(given, named, tmp_path):
    before = configure(database_url=f"sqlite:///{tmp_path / 'jobs.db'}")

    with pytest.raises(SettingsError) as caught:
        configure(**given)

    assert named in str(caught.value)
    assert "12345" not in str(caught.value)
    assert runtime.current().settings is before


@pytest.mark.parametrize("scheme", ["redis://127.0.0.1:{port}/0", "amqp://guest:guest@127.0.0.1:{port}//"])
def test_with_the_broker_stopped_an_enqueue_raises_broker_unavailable_and_the_job_is_not_left_queued(
    tmp_path, closed_port, scheme
):
    database_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(database_url)
    configure(
        database_url=database_url,
        broker_url=scheme.format(port=closed_port),
        api_url=f"http://127.0.0.1:{free_port()}/v1",
        api_key="k",
        api_secret="s",
        **QUICK,
    )

    with pytest.raises(BrokerUnavailable):
        enqueue_generation("a fox", options=JobOptions(tags=["down"], idempotency_key="fox-1"))
    with pytest.raises(BrokerUnavailable) as many:
        enqueue_many([{"prompt": "a fox, many"}])

    assert many.value.queued == []  # type: ignore[attr-defined]
    jobs = runtime.current().jobs.list()
    assert len(jobs) == 2 and {j.status for j in jobs} == {JobStatus.DEAD}
    assert get_job(jobs[0].id).last_error["code"] == "NOT_QUEUED"
    # The key is free again: the same call, made once the broker is back, records a job that runs.
    assert runtime.current().jobs.find_by_idempotency_key("fox-1") is None
    assert cancel_job(jobs[0].id).status is JobStatus.DEAD


def test_with_the_database_stopped_every_public_call_raises_database_unavailable(closed_port):
    configure(
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/nothing",
        broker_url=f"redis://127.0.0.1:{free_port()}/0",
        api_url=f"http://127.0.0.1:{free_port()}/v1",
        api_key="k",
        api_secret="s",
        **QUICK,
    )
    calls = {
        "enqueue_generation": lambda: enqueue_generation("a fox"),
        "enqueue_generation with a key": lambda: enqueue_generation("a fox", options=JobOptions(idempotency_key="k1")),
        "enqueue_many": lambda: enqueue_many([{"prompt": "a fox"}]),
        "get_job": lambda: get_job("abc"),
        "cancel_job": lambda: cancel_job("abc"),
    }
    for name, call in calls.items():
        with pytest.raises(DatabaseUnavailable) as caught:
            call()
        assert "the database did not answer" in str(caught.value), name
        assert "postgres@" not in str(caught.value), name


@pytest.mark.parametrize(
    ("raised", "becomes"),
    [
        (ValueError("image: a local image must be uploaded"), InputError),
        (sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused")), DatabaseUnavailable),
        (sqlalchemy.exc.ProgrammingError("SELECT 1", {}, Exception("no such table: jobs")), DatabaseError),
        (redis.exceptions.ConnectionError("refused"), FleetUnavailable),
        (kombu.exceptions.OperationalError("refused"), BrokerUnavailable),
    ],
)
def test_an_error_of_a_lower_layer_leaves_the_public_api_as_ours_with_its_cause(raised, becomes):
    with pytest.raises(becomes) as caught, at_the_edge():
        raise raised

    assert caught.value.__cause__ is raised
    assert "SELECT" not in str(caught.value)
