"""The simulator's webhooks: each job's end is POSTed, signed, once, to every registered endpoint;
a failing receiver is retried a couple of times then dropped; fault rules drop or forge deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from tests.harness import wait_until
from tests.simulator.helpers import ApiClient
from worker.simulator.webhooks import RETRY_WAITS_S, signing_key

SECRET = "whsec_" + base64.b64encode(b"simulator-webhook-test-key-32-by").decode()


@dataclass(frozen=True)
class Arrival:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        content = f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.".encode() + self.body
        digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
        return self.headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()


class Receiver:
    """A real endpoint that keeps what arrives and answers `answer`."""

    def __init__(self) -> None:
        self.answer = 204
        self.arrivals: list[Arrival] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.arrivals.append(Arrival({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.answer)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/scenario"

    def for_job(self, job_id: str) -> list[Arrival]:
        return [a for a in list(self.arrivals) if a.event["data"]["jobId"] == job_id]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def test_a_job_that_succeeds_is_announced_once_signed_with_the_endpoints_secret(sim, api, receiver) -> None:
    sim.add_webhook(receiver.url, SECRET)
    job = api.submit_job("a lighthouse")
    wait_until(lambda: receiver.for_job(job["jobId"]), 5, "the job's end event")
    wait_until(lambda: sim.webhooks.pending() == 0, 5, "every delivery done")
    [arrival] = receiver.for_job(job["jobId"])
    assert arrival.signed_with(SECRET)
    event = arrival.event
    assert event["type"] == "inference.completed"
    assert (event["data"]["status"], event["data"]["jobType"]) == ("success", job["jobType"])
    assert event["id"] == arrival.headers["webhook-id"]
    # The event says the end Scenario's GET then shows.
    assert api.job(job["jobId"])["status"] == "success"
    assert sim.stats()["webhooks"]["delivered_by_type"] == {"inference.completed": 1}


def test_a_failed_job_is_announced_as_failed(sim, api, receiver) -> None:
    sim.add_webhook(receiver.url, SECRET)
    sim.faults.fail_jobs(prompt_contains="cursed")
    job = api.submit_job("a cursed lighthouse")
    wait_until(lambda: receiver.for_job(job["jobId"]), 5, "the job's end event")
    assert [a.event["type"] for a in receiver.for_job(job["jobId"])] == ["inference.failed"]


def test_a_job_canceled_before_its_end_is_announced_once_as_cancelled(start_simulator, receiver) -> None:
    sim = start_simulator(job_duration_s=0.6)
    api = ApiClient(sim.api_url)
    sim.add_webhook(receiver.url, SECRET)
    job = api.submit_job("a lighthouse to cancel")
    assert api.post(f"/jobs/{job['jobId']}/action", {"action": "cancel"}).status_code == 200
    wait_until(lambda: receiver.for_job(job["jobId"]), 5, "the cancel event")
    # The end it would have had passes too: by then nothing is left to announce.
    wait_until(lambda: sim.webhooks.pending() == 0, 5, "the superseded end to pass")
    assert [a.event["type"] for a in receiver.for_job(job["jobId"])] == ["inference.cancelled"]


def test_without_an_endpoint_nothing_is_sent(sim, api, receiver) -> None:
    job = api.submit_job("a quiet lighthouse")
    api.wait_final(job["jobId"])
    assert sim.webhooks.pending() == 0
    assert sim.stats()["webhooks"]["attempts"] == 0
    assert receiver.arrivals == []


def test_a_receiver_that_fails_is_tried_three_times_then_the_delivery_is_dropped(sim, api, receiver) -> None:
    receiver.answer = 500
    sim.add_webhook(receiver.url, SECRET)
    job = api.submit_job("a lighthouse nobody hears")
    wait_until(lambda: sim.stats()["webhooks"]["failed"] == 1, 10, "the delivery to be given up")
    hooks = sim.stats()["webhooks"]
    assert len(receiver.for_job(job["jobId"])) == len(RETRY_WAITS_S) + 1
    assert (hooks["attempts"], hooks["delivered"], hooks["answers"]) == (3, 0, {"500": 3})
    # The same event each time, so a receiver can tell a retry from a new one.
    assert len({a.headers["webhook-id"] for a in receiver.for_job(job["jobId"])}) == 1


def test_a_drop_rule_sends_nothing_and_a_forge_rule_sends_a_wrong_signature(sim, api, receiver) -> None:
    sim.add_webhook(receiver.url, SECRET)
    sim.faults.webhook(action="drop", times=1)
    dropped = api.submit_job("a lighthouse lost at sea")
    api.wait_final(dropped["jobId"])
    sim.faults.webhook(action="forge", times=1)
    forged = api.submit_job("a lighthouse in disguise")
    wait_until(lambda: receiver.for_job(forged["jobId"]), 5, "the forged event")
    wait_until(lambda: sim.webhooks.pending() == 0, 5, "every delivery done")
    assert receiver.for_job(dropped["jobId"]) == []
    [arrival] = receiver.for_job(forged["jobId"])
    assert not arrival.signed_with(SECRET)
    hooks = sim.stats()["webhooks"]
    assert (hooks["dropped_by_fault"], hooks["forged"], hooks["delivered"]) == (1, 1, 1)


def test_the_control_api_registers_lists_and_forgets_endpoints(sim, api, receiver) -> None:
    made = requests.post(f"{sim.url}/_sim/webhooks", json={"url": receiver.url}, timeout=5)
    assert made.status_code == 200
    endpoint = made.json()["endpoint"]
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["events"] == ["inference.cancelled", "inference.completed", "inference.failed"]
    listed = requests.get(f"{sim.url}/_sim/webhooks", timeout=5).json()["endpoints"]
    assert listed == [{"id": endpoint["id"], "url": receiver.url, "events": endpoint["events"]}]
    job = api.submit_job("a lighthouse on the list")
    [arrival] = wait_until(lambda: receiver.for_job(job["jobId"]), 5, "the job's end event")
    assert arrival.signed_with(endpoint["secret"])
    assert requests.delete(f"{sim.url}/_sim/webhooks", timeout=5).json() == {"endpoints": []}
    rule = {"kind": "webhook", "action": "forge", "job_id": "job_x"}
    assert requests.post(f"{sim.url}/_sim/faults/rules", json=rule, timeout=5).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"url": "ftp://example.com/hook"}, {"url": "http://example.com", "events": ["model.training.done"]}, {"u": 1}],
)
def test_a_bad_endpoint_is_refused_with_400(sim, body) -> None:
    assert requests.post(f"{sim.url}/_sim/webhooks", json=body, timeout=5).status_code == 400


def test_the_stats_count_each_jobs_gets(sim, api) -> None:
    one, two = api.submit_job("one"), api.submit_job("two")
    for _ in range(3):
        api.job(one["jobId"])
    api.job(two["jobId"])
    assert {k: v for k, v in sim.stats()["gets_by_job"].items() if k in (one["jobId"], two["jobId"])} == {
        one["jobId"]: 3,
        two["jobId"]: 1,
    }
