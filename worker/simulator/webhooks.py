"""Scenario's webhooks as the simulator sends them: each job's end POSTed to every registered endpoint.

Scenario signs deliveries with the endpoint's secret by a scheme it does not publish; the
simulator uses Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature:
v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`), the scheme of the common webhook
services. Deliveries run on threads of their own: a slow or failing receiver never holds up
a job or an API answer. A receiver that does not answer 2xx is tried again a couple of
times, then the delivery is dropped, as a sender gives up on a dead endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from worker.simulator.faults import Faults
from worker.simulator.stats import Stats
from worker.simulator.timefmt import iso_ms
from worker.simulator.world import JobRecord, World

EVENT_TYPES = {"success": "inference.completed", "failure": "inference.failed", "canceled": "inference.cancelled"}
# Waits before the second and third attempts; a delivery is dropped after the third.
RETRY_WAITS_S = (0.2, 1.0)
DELIVERY_TIMEOUT_S = 5.0
SENDER_THREADS = 4
# A job's status turns final strictly after its end time: its event is sent this much later.
_AFTER_END_S = 0.005
RECHECK_S = 0.05
SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class Endpoint:
    """A registered receiver; `secret` is shown once, when it is registered."""

    id: str
    url: str
    secret: str
    events: frozenset[str]

    def to_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        shown: dict[str, Any] = {"id": self.id, "url": self.url, "events": sorted(self.events)}
        if with_secret:
            shown["secret"] = self.secret
        return shown


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_key(secret: str) -> bytes:
    """The key inside a `whsec_` secret; any other string is used as it is."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except ValueError:
            pass
    return secret.encode()


def signed_headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    digest = hmac.new(signing_key(secret), f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def event_json(record: JobRecord, now: float, event_id: str) -> dict[str, Any] | None:
    """The event for a job's end, or None while the job is not final."""
    state = record.state(now)
    event_type = EVENT_TYPES.get(state.status)
    if event_type is None:
        return None
    return {
        "id": event_id,
        "type": event_type,
        "createdAt": iso_ms(now),
        "data": {
            "jobId": record.job_id,
            "jobType": record.model.job_type,
            "status": state.status,
            "modelId": record.model.id,
            "ownerId": record.owner_id,
            "authorId": record.author_id,
            "createdAt": iso_ms(record.times.created_at),
            "updatedAt": iso_ms(state.updated_at),
        },
    }


def check_events(events: Any) -> frozenset[str]:
    if events is None:
        return frozenset(EVENT_TYPES.values())
    if not isinstance(events, list) or not all(isinstance(e, str) and e in EVENT_TYPES.values() for e in events):
        raise ValueError(f"events must be a list of {', '.join(sorted(EVENT_TYPES.values()))}")
    return frozenset(events)


@dataclass(frozen=True)
class _Delivery:
    endpoint: Endpoint
    event_id: str
    event_type: str
    body: bytes
    forged: bool


class Webhooks:
    """The endpoints, the jobs whose end is due, and the threads that send their events."""

    def __init__(self, world: World, faults: Faults, stats: Stats) -> None:
        self._world = world
        self._faults = faults
        self._stats = stats
        self._lock = threading.Condition()
        self._endpoints: list[Endpoint] = []
        # (due, job_id) of jobs whose end is to be announced; _due says which entry is current,
        # so a job canceled before its end is announced once, at its cancel.
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._outbox: queue.Queue[_Delivery | None] = queue.Queue()
        # Deliveries queued or being sent, so a test can wait for all of them to be done.
        self._unsent = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- endpoints ------------------------------------------------------------------------

    def register(self, url: str, secret: str | None = None, events: Any = None) -> Endpoint:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ValueError("secret must be a non-empty string")
        endpoint = Endpoint("whe_" + secrets.token_hex(8), url, secret or new_secret(), check_events(events))
        with self._lock:
            self._endpoints.append(endpoint)
        return endpoint

    def endpoints(self) -> list[Endpoint]:
        with self._lock:
            return list(self._endpoints)

    def clear(self) -> None:
        """Forget every endpoint and every end still to announce."""
        with self._lock:
            self._endpoints.clear()
            self._heap.clear()
            self._due.clear()

    # --- jobs -----------------------------------------------------------------------------

    def job_changed(self, record: JobRecord) -> None:
        """A job was created or canceled: its end is announced when it comes (if anyone listens)."""
        with self._lock:
            if not self._endpoints:
                return
            due = record.ends_at() + _AFTER_END_S
            self._due[record.job_id] = due
            heapq.heappush(self._heap, (due, record.job_id))
            self._lock.notify()

    def pending(self) -> int:
        """Ends still to announce (including those a cancel superseded, until their time passes)
        and deliveries not done yet."""
        with self._lock:
            return len(self._heap) + self._unsent

    # --- threads --------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        # A fresh outbox: what an earlier stop left in it (its wake-ups, deliveries cut short) is gone.
        self._outbox = queue.Queue()
        with self._lock:
            self._unsent = 0
        self._threads = [threading.Thread(target=self._schedule, name="sim-webhooks", daemon=True)]
        self._threads += [
            threading.Thread(target=self._send, name=f"sim-webhook-sender-{n}", daemon=True)
            for n in range(SENDER_THREADS)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        for _ in range(SENDER_THREADS):
            self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=DELIVERY_TIMEOUT_S + 1)
        self._threads = []

    def _schedule(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                now = time.time()
                if not self._heap or self._heap[0][0] > now:
                    wait_s = self._heap[0][0] - now if self._heap else None
                    self._lock.wait(timeout=wait_s)
                    continue
                due, job_id = heapq.heappop(self._heap)
                if self._due.get(job_id) != due:
                    continue  # superseded by a cancel
                del self._due[job_id]
                endpoints = list(self._endpoints)
            self._announce(job_id, endpoints)

    def _announce(self, job_id: str, endpoints: list[Endpoint]) -> None:
        record = self._world.job(job_id)
        now = time.time()
        if record is None:
            return
        event_id = "evt_" + secrets.token_hex(12)
        event = event_json(record, now, event_id)
        if event is None:
            # Not final yet by the clock's reading (a job canceled, then its cancel undone by a
            # restart would be one): look again a moment later.
            with self._lock:
                self._due[job_id] = now + RECHECK_S
                heapq.heappush(self._heap, (now + RECHECK_S, job_id))
            return
        body = json.dumps(event, separators=(",", ":")).encode()
        for endpoint in endpoints:
            if event["type"] not in endpoint.events:
                continue
            action = self._faults.webhook_action(job_id=job_id, model_id=record.model.id)
            if action == "drop":
                self._stats.note_webhook("dropped_by_fault")
                continue
            with self._lock:
                self._unsent += 1
            self._outbox.put(_Delivery(endpoint, event_id, event["type"], body, forged=action == "forge"))

    def _send(self) -> None:
        while True:
            delivery = self._outbox.get()
            if delivery is None or self._stopping.is_set():
                return
            try:
                self._deliver(delivery)
            finally:
                with self._lock:
                    self._unsent -= 1

    def _deliver(self, delivery: _Delivery) -> None:
        for attempt in range(len(RETRY_WAITS_S) + 1):
            if attempt and self._stopping.wait(RETRY_WAITS_S[attempt - 1]):
                return
            secret = new_secret() if delivery.forged else delivery.endpoint.secret
            headers = signed_headers(secret, delivery.event_id, int(time.time()), delivery.body)
            status = _post(delivery.endpoint.url, delivery.body, headers)
            self._stats.note_webhook("attempts", answer=status, forged=delivery.forged and attempt == 0)
            if status is not None and 200 <= status < 300:
                self._stats.note_webhook("delivered", event_type=delivery.event_type)
                return
        self._stats.note_webhook("failed")


def _post(url: str, body: bytes, headers: dict[str, str]) -> int | None:
    """The receiver's HTTP status, or None when it could not be reached."""
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "Scenario-Webhooks (simulated)")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_S) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return None
