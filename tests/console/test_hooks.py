"""Scenario's webhooks reach the console and wake one look at their job: the simulator delivers
them to a running console (gunicorn), a worker looks, the row takes what Scenario answers.

The jobs' own polls are set 30 s out, so an end stored before then, with one GET of the job and
no poll counted on its row, was stored by the look a hint asked for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.conftest import KEY
from tests.conftest import SECRET as API_SECRET
from tests.console.conftest import serving_console
from tests.harness import System, running_system, wait_until
from tests.services import throwaway_postgres
from worker import enqueue_generation
from worker.simulator import SimulatorConfig
from worker.states import JobStatus

HOOK_SECRET = "whsec_" + base64.b64encode(b"console-hook-test-key-0123456789").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"a-forgers-own-key-0123456789abcd").decode()
POLL_S = "30"
# Each job's own polls 30 s out, single jobs never swept: only a hint's look sees an end sooner.
SLOW_POLLS = {
    "SCENARIO_POLL_INITIAL_S": POLL_S,
    "SCENARIO_POLL_MAX_S": POLL_S,
    "SCENARIO_VISIBILITY_TIMEOUT_S": "120",
    "SCENARIO_JOB_DEADLINE_S": "300",
    "SCENARIO_SWEEP_FROM_JOBS": "1000",
}


@dataclass
class Hooked:
    system: System
    url: str  # the console that checks signatures
    open_url: str  # a console without SCENARIO_WEBHOOK_SECRET: every hint is taken


@pytest.fixture(scope="module")
def hooked(redis_url, tmp_path_factory) -> Iterator[Hooked]:
    config = SimulatorConfig(api_key=KEY, api_secret=API_SECRET, job_duration_s=1.0, seed=7)
    workdir = tmp_path_factory.mktemp("hooks")
    with (
        throwaway_postgres() as database_url,
        running_system(
            database_url=database_url, broker_url=redis_url, workdir=workdir, sim_config=config, **SLOW_POLLS
        ) as system,
        serving_console(system, workdir, SCENARIO_WEBHOOK_SECRET=HOOK_SECRET) as url,
        serving_console(system, workdir, "open-console.log") as open_url,
    ):
        system.sim.add_webhook(f"{url}/hooks/scenario", HOOK_SECRET)
        yield Hooked(system, url, open_url)


def gets(system: System, scenario_job_id: str) -> int:
    return system.sim.stats()["gets_by_job"].get(scenario_job_id, 0)


def submitted(system: System, job_id: str):
    return wait_until(
        lambda: (job := system.jobs.get(job_id)) is not None and job.scenario_job_id and job, 20, "the submit"
    )


def event_for(scenario_job_id: str, kind: str = "inference.completed") -> bytes:
    return json.dumps({"id": "evt_t", "type": kind, "data": {"jobId": scenario_job_id, "status": "success"}}).encode()


def signed(secret: str, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"evt_t.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": "evt_t",
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def deliver(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{url}/hooks/scenario", data=body, headers=headers, timeout=10, allow_redirects=False)


def test_a_jobs_end_is_stored_after_its_webhook_with_one_get_and_no_poll(hooked) -> None:
    system = hooked.system
    job_id = enqueue_generation("a lighthouse at dusk", width=256, height=256)
    job = system.wait_for(job_id, timeout_s=20)
    system.wait_for_log(f"looked after a hint job_id={job_id}")
    assert job.status is JobStatus.SUCCESS
    assert (gets(system, job.scenario_job_id), job.polls) == (1, 0)
    # The simulator counts a delivery once the console's answer is read, which can come after the
    # look the hint sent has stored the end.
    wait_until(
        lambda: system.sim.stats()["webhooks"]["delivered_by_type"].get("inference.completed", 0) >= 1,
        10,
        "the simulator to count its delivery",
    )


def test_a_failed_jobs_webhook_ends_it_with_its_dead_letter(hooked) -> None:
    system = hooked.system
    system.sim.faults.fail_jobs(prompt_contains="cursed", times=1)
    job_id = enqueue_generation("a cursed lighthouse", width=256, height=256)
    job = system.wait_for(job_id, timeout_s=20)
    system.wait_for_log(f"looked after a hint job_id={job_id}")
    assert job.status is JobStatus.FAILURE
    assert system.dead_letters.get_for_job(job_id) is not None
    assert (gets(system, job.scenario_job_id), job.polls) == (1, 0)


def test_a_forged_or_unsigned_hint_is_refused_without_a_look(hooked) -> None:
    system = hooked.system
    system.sim.faults.job_duration(seconds=120, prompt_contains="endless", times=1)
    job = submitted(system, enqueue_generation("an endless lighthouse", width=256, height=256))
    body = event_for(job.scenario_job_id)
    assert deliver(hooked.url, body, signed(OTHER_SECRET, body)).status_code == 401
    assert deliver(hooked.url, body, {"content-type": "application/json"}).status_code == 401
    # Signed, but the body changed afterwards.
    tampered = event_for(job.scenario_job_id, "inference.failed")
    assert deliver(hooked.url, tampered, signed(HOOK_SECRET, body)).status_code == 401
    assert gets(system, job.scenario_job_id) == 0
    assert system.jobs.get(job.id).status is job.status


def test_a_forged_hint_taken_without_a_secret_costs_one_get_and_changes_no_state(hooked) -> None:
    system = hooked.system
    system.sim.faults.job_duration(seconds=120, prompt_contains="patient", times=1)
    job = submitted(system, enqueue_generation("a patient lighthouse", width=256, height=256))
    body = event_for(job.scenario_job_id)
    answer = deliver(hooked.open_url, body, signed(OTHER_SECRET, body))
    assert answer.status_code == 202 and answer.json() == {"look": "look scheduled", "job_id": job.id}
    system.wait_for_log(f"looked after a hint job_id={job.id}")
    after = system.jobs.get(job.id)
    assert not after.status.is_final
    assert after.scenario_status in ("queued", "warming-up", "in-progress")
    assert gets(system, job.scenario_job_id) == 1


def test_a_forged_delivery_from_scenarios_side_leaves_the_job_to_its_poll(hooked) -> None:
    system = hooked.system
    before = system.sim.stats()["webhooks"]
    system.sim.faults.webhook(action="forge", times=1)
    job = submitted(system, enqueue_generation("a lighthouse in disguise", width=256, height=256))
    # Scenario ends the job; its one delivery is refused three times, then dropped.
    wait_until(lambda: system.sim.stats()["webhooks"]["failed"] == before["failed"] + 1, 20, "the delivery dropped")
    after = system.sim.stats()["webhooks"]
    assert after["answers"].get("401", 0) - before["answers"].get("401", 0) == 3
    assert not system.jobs.get(job.id).status.is_final
    assert gets(system, job.scenario_job_id) == 0


def test_a_look_that_fails_is_dropped_without_a_dead_letter_and_the_next_hint_ends_the_job(hooked) -> None:
    system = hooked.system
    system.sim.faults.job_duration(seconds=3, prompt_contains="stubborn", times=1)
    job = submitted(system, enqueue_generation("a stubborn lighthouse", width=256, height=256))
    system.sim.faults.add_rule(endpoint="get_job", job_id=job.scenario_job_id, status=500, times=1)
    # Scenario's own webhook comes at the end; its look meets the 500 and gives up quietly.
    system.wait_for_log(f"could not look after a hint job_id={job.id}")
    assert not system.jobs.get(job.id).status.is_final
    assert system.dead_letters.get_for_job(job.id) is None
    body = event_for(job.scenario_job_id)
    assert deliver(hooked.url, body, signed(HOOK_SECRET, body)).status_code == 202
    ended = system.wait_for(job.id, timeout_s=20)
    assert ended.status is JobStatus.SUCCESS and ended.polls == 0
    assert gets(system, job.scenario_job_id) == 1  # the 500 is not an answered GET


def test_a_hint_for_an_unknown_job_changes_nothing(hooked) -> None:
    system = hooked.system
    not_found_before = system.sim.stats()["requests"].get("get_job", {}).get("404", 0)
    body = event_for("job_NoSuchJobAnywhere000000")
    answer = deliver(hooked.url, body, signed(HOOK_SECRET, body))
    assert (answer.status_code, answer.json()) == (200, {"ignored": "unknown job"})
    # Another program's job of the same team: Scenario sends its end too, and nothing is looked at.
    answered = system.sim.stats()["webhooks"]["answers"].get("200", 0)
    planted = system.sim.create_job("flux.1-dev", {"prompt": "someone else's lighthouse"}, duration_s=0.2)
    wait_until(
        lambda: system.sim.stats()["webhooks"]["answers"].get("200", 0) == answered + 1,
        20,
        "the planted job's end answered 200 (nothing to look at)",
    )
    assert gets(system, planted["jobId"]) == 0
    assert system.sim.stats()["requests"].get("get_job", {}).get("404", 0) == not_found_before


@pytest.mark.parametrize(
    ("body", "status", "answer"),
    [
        (b"{not json", 400, {"ignored": "malformed"}),
        (event_for("job_x", "inference.created"), 200, {"ignored": "not an end"}),
    ],
)
def test_a_delivery_that_is_no_hint_is_answered_without_signing_in(hooked, body, status, answer) -> None:
    response = deliver(hooked.url, body, signed(HOOK_SECRET, body))
    assert (response.status_code, response.json()) == (status, answer)
