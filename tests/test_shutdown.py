"""A worker's warm shutdown: what it holds but will not run goes back to the broker at once, and its
pool processes wait a bounded time for their results to be read.

Workers stopped in turn while a canceled batch drains are in tests/chaos/test_stopped_while_draining.py."""

from __future__ import annotations

import re

import billiard.pool
import pytest

from tests.conftest import KEY, SECRET
from tests.harness import running_system, wait_until
from tests.services import messages_ready, throwaway_broker, throwaway_postgres
from worker import lanes, shutdown
from worker.batches.manifest import parse_manifest
from worker.batches.runs import submit_batch
from worker.celery_app import app
from worker.dispatch import POLL_TASK
from worker.simulator import SimulatorConfig


@pytest.mark.parametrize(
    ("wait_s", "interval_s", "tries"),
    [
        (2.0, 0.1, 20),  # the bound the workers use
        (0.05, 0.1, 1),  # a wait shorter than one interval still looks once
        (30.0, 0.1, 300),  # billiard's own
        (1.0, 0.3, 4),  # rounded up, never under the wait asked for
    ],
)
def test_the_handover_wait_is_counted_in_whole_looks(wait_s, interval_s, tries):
    assert shutdown.handover_tries(wait_s, interval_s) == tries


@pytest.mark.parametrize(("wait_s", "interval_s", "named"), [(0, 0.1, "wait_s"), (2.0, -1, "interval_s")])
def test_a_wait_or_interval_that_is_not_positive_is_refused_by_name(wait_s, interval_s, named):
    with pytest.raises(ValueError, match=named):
        shutdown.handover_tries(wait_s, interval_s)


def test_a_pool_process_waits_at_most_the_bound_for_its_results_to_be_read(monkeypatch):
    monkeypatch.setattr(billiard.pool, "GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT", 300)

    shutdown.bound_the_result_handover()

    assert shutdown.RESULT_HANDOVER_WAIT_S <= shutdown.result_handover_s() < shutdown.RESULT_HANDOVER_WAIT_S + 0.2


@pytest.mark.timeout(120)
@pytest.mark.parametrize("broker_kind", ["redis", "rabbitmq"])
def test_a_stopping_worker_gives_back_its_countdown_messages_before_its_running_task_ends(
    redis_url, tmp_path, broker_kind
):
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=3)
    with (
        throwaway_postgres() as database_url,
        throwaway_broker(broker_kind, redis_url) as broker_url,
        running_system(
            database_url=database_url,
            broker_url=broker_url,
            redis_url=redis_url,
            workdir=tmp_path / "workers",
            sim_config=config,
            workers=(),
        ) as system,
    ):
        # The one submit is held by Scenario until the test lets it go: the worker is still running
        # it, and so still alive, while the test looks at the broker.
        hold = system.sim.faults.add_rule(endpoint="submit", action="hold", delay_s=60)
        # Its client, and the task's time limits, wait longer for the answer than the test waits for the message.
        worker = system.start_worker(
            name="stopping", concurrency=2, SCENARIO_READ_TIMEOUT_S="40", SCENARIO_VISIBILITY_TIMEOUT_S="3600"
        )
        # A look at a job that does not exist, due in a minute: held by the worker until then, and a
        # no-op whenever it runs.
        look = app.send_task(POLL_TASK, args=("no-such-job", 0), countdown=60)
        submit_batch(parse_manifest("batch: held\nitems:\n  - name: one\n    prompt: a held answer\n", kind="yaml"))
        # Its own line, not the task's name: the worker's banner lists every task it knows.
        system.wait_for_log(f"{POLL_TASK}[{look.id}] received", timeout_s=30)
        wait_until(lambda: system.sim.faults.held(hold) == 1, 30, "the submit to reach Scenario")
        assert messages_ready(broker_url, lanes.WATCH) == 0, "the worker holds the countdown message"

        worker.terminate()
        # The fleet's sweep, also a countdown in that lane, may be held too and given back with it.
        wait_until(lambda: messages_ready(broker_url, lanes.WATCH) >= 1, 20, "the countdown message to be given back")
        still_running = worker.proc is not None and worker.proc.poll() is None
        system.sim.faults.release(hold)

        assert still_running, "the message was back in the queue while the worker still ran its submit"
        assert worker.exited_within(30)
        assert given_back(worker.log_path.read_text())["countdowns"] >= 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("broker_kind", ["redis", "rabbitmq"])
def test_a_stopping_worker_gives_back_the_messages_it_took_ahead_and_each_is_sent_once_by_another(
    redis_url, tmp_path, broker_kind
):
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, job_duration_s=1.0, seed=3)
    with (
        throwaway_postgres() as database_url,
        throwaway_broker(broker_kind, redis_url) as broker_url,
        running_system(
            database_url=database_url,
            broker_url=broker_url,
            redis_url=redis_url,
            workdir=tmp_path / "workers",
            sim_config=config,
            workers=(),
        ) as system,
    ):
        # The first submit is held by Scenario: the worker's one process runs it, and the two
        # messages it took ahead (three at most) wait for that process; the fourth waits in the queue.
        hold = system.sim.faults.add_rule(endpoint="submit", action="hold", delay_s=60, times=1)
        worker = system.start_worker(
            name="stopping",
            concurrency=1,
            SCENARIO_WORKER_PREFETCH_MULTIPLIER="3",
            SCENARIO_READ_TIMEOUT_S="40",
            SCENARIO_VISIBILITY_TIMEOUT_S="3600",
        )
        items = "".join(f"  - name: item-{n}\n    prompt: taken ahead {n}\n" for n in range(4))
        submit_batch(parse_manifest(f"batch: ahead\nitems:\n{items}", kind="yaml"))
        wait_until(lambda: system.sim.faults.held(hold) == 1, 30, "the first submit to reach Scenario")
        wait_until(lambda: messages_ready(broker_url, lanes.BATCH) == 1, 20, "the worker to take two ahead")

        worker.terminate()
        wait_until(lambda: messages_ready(broker_url, lanes.BATCH) == 3, 20, "the two taken ahead to be given back")
        still_running = worker.proc is not None and worker.proc.poll() is None
        system.sim.faults.release(hold)

        assert still_running, "the messages were back in the queue while the worker still ran its submit"
        assert worker.exited_within(30)
        log = worker.log_path.read_text()
        assert given_back(log)["waiting"] == 2  # beside any countdown it held (the fleet's sweep)
        system.start_worker(name="next", concurrency=2)
        jobs = wait_until(
            lambda: (jobs := system.batch_jobs("ahead")) and all(job.is_final for job in jobs) and jobs,
            60,
            "every item to end",
        )
        assert sorted(job.status.value for job in jobs) == ["success"] * 4
        stats = system.sim.stats()
        assert stats["jobs_created"] == 4, "each item is sent once"
        assert stats["duplicate_submissions"] == 0


def given_back(log: str) -> dict[str, int]:
    """What a stopping worker's log says it gave back at shutdown."""
    found = re.search(
        r"gave back (\d+) held messages at shutdown \((\d+) countdowns, (\d+) waiting for a pool process\)", log
    )
    assert found, "the worker logged no messages given back"
    total, countdowns, waiting = (int(n) for n in found.groups())
    return {"total": total, "countdowns": countdowns, "waiting": waiting}
