"""The fleet's one guard over the sweep: a swept job is sent no message of its own, and when no
sweep looks, the recovery hands the jobs it left unseen back to their own polls until one does.

Run here, in the test's process, with no worker: the messages the steps send stay in the broker
(Redis) to be read, and Scenario is the simulator over HTTP, the rows PostgreSQL's.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from sqlalchemy import update

from tests.conftest import KEY, SECRET
from tests.harness import System, running_system
from tests.services import throwaway_database
from tests.tasks.conftest import unsent_job
from worker import lanes, runtime
from worker.db.models import Job, utcnow
from worker.fleet.coordination import PREFIX
from worker.simulator import SimulatorConfig
from worker.tasks.generation import poll_job
from worker.tasks.recovery import guard_the_sweep
from worker.tasks.submit import submit_generation
from worker.tasks.sweep import ALIVE_FRESH_S

POLL, SWEEP = "scenario.poll_job", "scenario.sweep"
STALE_AFTER_S = 2.0


@pytest.fixture(scope="module")
def swept(redis_url, tmp_path_factory) -> Iterator[System]:
    """Renders far longer than the tests, and every single job swept (the sweep pays from one)."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=600.0, seed=31)
    with (
        throwaway_database("postgres", tmp_path_factory.mktemp("db")) as database_url,
        running_system(
            database_url=database_url,
            broker_url=redis_url,
            workdir=tmp_path_factory.mktemp("guard"),
            sim_config=config,
            workers=(),
            SCENARIO_SWEEP_FROM_JOBS="1",
            SCENARIO_SWEEP_STALE_AFTER_S=str(STALE_AFTER_S),
            SCENARIO_POLL_INITIAL_S="0.2",
        ) as system,
    ):
        yield system


@pytest.fixture
def broker(swept) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(swept.settings.broker_url)
    client.delete(lanes.WATCH)
    yield client
    client.delete(lanes.WATCH)
    client.close()


def waiting(client: redis.Redis, name: str) -> list[tuple[list, dict]]:
    """The arguments of every message of task `name` waiting in the watch lane."""
    found = []
    for raw in client.lrange(lanes.WATCH, 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == name:
            args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append((args, kwargs))
    return found


def polls_for(client: redis.Redis, job_id: str) -> list[int]:
    """The poll numbers of the polls waiting for this job."""
    return [args[1] for args, _ in waiting(client, POLL) if args[0] == job_id]


def looks_at(system: System) -> int:
    return sum(system.sim.stats()["requests"].get("get_job", {}).values())


def no_sweep_has_looked(client: redis.Redis) -> None:
    """No beat, and no sweep asked for: as when the worker holding it died a while ago."""
    client.delete(f"{PREFIX}:sweep:last", f"{PREFIX}:armed:sweep")
    time.sleep(ALIVE_FRESH_S + 0.1)  # this process's view of the beat is a second old at most


def a_sweep_looks_now() -> None:
    runtime.current().coordination.beat()
    time.sleep(ALIVE_FRESH_S + 0.1)


def unseen_for(job_id: str, seconds: float) -> None:
    with runtime.current().database.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(updated_at=utcnow() - timedelta(seconds=seconds)))


def submitted(prompt: str) -> str:
    job_id = unsent_job(prompt)
    submit_generation(job_id)
    assert runtime.current().jobs.get(job_id).scenario_job_id is not None
    return job_id


def test_a_swept_job_is_sent_no_poll_of_its_own_only_the_sweep_it_asks_for(swept, broker):
    job_id = submitted("a swept lighthouse")

    assert polls_for(broker, job_id) == []
    assert len(waiting(broker, SWEEP)) == 1


def test_while_a_sweep_looks_the_guard_hands_nothing_back(swept, broker):
    job_id = submitted("a watched lighthouse")
    unseen_for(job_id, 10 * STALE_AFTER_S)
    a_sweep_looks_now()

    assert guard_the_sweep() == 0
    assert polls_for(broker, job_id) == []


def test_with_no_sweep_looking_the_jobs_unseen_for_the_stale_period_go_back_to_their_polls_once(swept, broker):
    unseen = submitted("an unseen lighthouse")
    fresh = submitted("a fresh lighthouse")
    unseen_for(unseen, 10 * STALE_AFTER_S)
    no_sweep_has_looked(broker)
    broker.delete(lanes.WATCH)

    handed_back = guard_the_sweep()

    poll_seq = runtime.current().jobs.get(unseen).poll_seq
    assert polls_for(broker, unseen) == [poll_seq]
    assert polls_for(broker, fresh) == []  # its sweep may yet come: it was seen lately
    assert handed_back == len(waiting(broker, POLL)), "(earlier tests' jobs, long unseen, go back too)"
    assert len(waiting(broker, SWEEP)) == 1, "and a sweep is asked for"
    assert guard_the_sweep() == 0, "once per stale period"
    assert polls_for(broker, unseen) == [poll_seq]


def test_a_handed_back_job_polls_itself_while_no_sweep_looks_and_stops_once_one_does(swept, broker):
    job_id = submitted("a lighthouse left alone")
    no_sweep_has_looked(broker)
    seq = runtime.current().jobs.get(job_id).poll_seq
    before = looks_at(swept)

    poll_job(job_id, seq)

    assert looks_at(swept) == before + 1, "it asked Scenario itself"
    assert polls_for(broker, job_id) == [seq + 1], "and comes back on its own"

    a_sweep_looks_now()
    poll_job(job_id, seq + 1)

    assert looks_at(swept) == before + 1, "the sweep saw it lately: Scenario is asked nothing"
    assert polls_for(broker, job_id) == [seq + 1], "and its chain ends there"


def test_a_single_job_handed_back_by_a_stopping_sweep_polls_itself_to_its_end_whatever_it_hears_of_the_sweep(
    swept, broker
):
    job_id = submitted("a lighthouse the sweep gave back")
    a_sweep_looks_now()  # the beat a stopping sweep leaves behind, as every process sees it for a while
    seq = runtime.current().jobs.get(job_id).poll_seq
    before = looks_at(swept)

    poll_job(job_id, seq, alone=True)

    assert looks_at(swept) == before + 1, "it asked Scenario itself"
    [(args, kwargs)] = [(a, k) for a, k in waiting(broker, POLL) if a[0] == job_id]
    assert args == [job_id, seq + 1] and kwargs.get("alone") is True, "and comes back on its own, alone again"
