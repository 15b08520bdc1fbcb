"""What the simulator saw: answers by endpoint and status, submissions, 429s and their retries."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

# Bounds that keep a long load run from growing memory without end.
MAX_PROMPTS = 10_000
MAX_FINGERPRINTS = 100_000
# What GET /_sim/stats counts of webhook deliveries: each POST made, those answered 2xx, those
# given up after every attempt, those a fault rule dropped unsent, those sent with a wrong signature.
WEBHOOK_COUNTS = ("attempts", "delivered", "failed", "dropped_by_fault", "forged")


def peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals [start, end] open at one moment; one that ends as another starts overlaps it."""
    events = []
    for start, end in intervals:
        events.append((start, 0))  # at equal times, starts come before ends: both were open then
        events.append((end, 1))
    events.sort()
    open_now = peak = 0
    for _, is_end in events:
        open_now += -1 if is_end else 1
        peak = max(peak, open_now)
    return peak


class Stats:
    """Counters behind GET /_sim/stats; every method is safe from any thread."""

    def __init__(self, max_rate_limited: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._max_rate_limited = max_rate_limited
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: dict[str, dict[str, int]] = {}
            self._jobs_created = 0
            self._duplicates = 0
            self._fingerprints: OrderedDict[bytes, None] = OrderedDict()
            self._prompts: dict[str, int] = {}
            self._in_flight = 0
            self._peak = 0
            self._rate_limited: deque[dict[str, Any]] = deque(maxlen=self._max_rate_limited)
            # The latest unanswered 429 per request key, waiting for its retry.
            self._awaiting_retry: OrderedDict[str, dict[str, Any]] = OrderedDict()
            self._uploads: dict[str, int] = {}
            self._parallel_refusals = 0
            self._planted = 0
            self._webhooks: dict[str, int] = dict.fromkeys(WEBHOOK_COUNTS, 0)
            self._webhook_answers: dict[str, int] = {}
            self._webhooks_by_type: dict[str, int] = {}
            self._gets_by_job: OrderedDict[str, int] = OrderedDict()
            # Jobs created before a reset do not count toward running_peak.
            self.reset_at = time.time()

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Counts a request as being handled while the block runs."""
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def note_arrival(self, request_key: str, now: float) -> None:
        """A request came: if an earlier one with the same key got a 429, this is its retry."""
        with self._lock:
            entry = self._awaiting_retry.pop(request_key, None)
            if entry is not None:
                entry["retried_at"] = now

    def record(self, endpoint: str, outcome: int | str) -> None:
        """One answer (its HTTP status) or "dropped" for a connection closed without one."""
        with self._lock:
            by_status = self._requests.setdefault(endpoint, {})
            by_status[str(outcome)] = by_status.get(str(outcome), 0) + 1

    def note_rate_limited(self, endpoint: str, request_key: str, at: float, retry_after_s: float | None) -> None:
        entry = {
            "endpoint": endpoint,
            "request_key": request_key,
            "at": at,
            "retry_after_s": retry_after_s,
            "retried_at": None,
        }
        with self._lock:
            self._rate_limited.append(entry)
            self._awaiting_retry.pop(request_key, None)
            self._awaiting_retry[request_key] = entry
            while len(self._awaiting_retry) > self._max_rate_limited:
                self._awaiting_retry.popitem(last=False)

    def note_job_created(self, fingerprint: bytes, prompt: str) -> None:
        """A job was created; `fingerprint` stands for (API key, modelId, full input)."""
        with self._lock:
            self._jobs_created += 1
            if fingerprint in self._fingerprints:
                self._duplicates += 1
            else:
                self._fingerprints[fingerprint] = None
                if len(self._fingerprints) > MAX_FINGERPRINTS:
                    self._fingerprints.popitem(last=False)
            if prompt in self._prompts or len(self._prompts) < MAX_PROMPTS:
                self._prompts[prompt] = self._prompts.get(prompt, 0) + 1

    def note_upload(self, sha256: str) -> None:
        with self._lock:
            if sha256 in self._uploads or len(self._uploads) < MAX_FINGERPRINTS:
                self._uploads[sha256] = self._uploads.get(sha256, 0) + 1

    def note_parallel_refusal(self) -> None:
        with self._lock:
            self._parallel_refusals += 1

    def note_webhook(
        self, kind: str, *, answer: int | None = None, forged: bool = False, event_type: str | None = None
    ) -> None:
        """A webhook delivery's step: an attempt (with the receiver's status, None if unreachable), delivered,
        failed for good, or dropped by a fault rule."""
        with self._lock:
            self._webhooks[kind] += 1
            if forged:
                self._webhooks["forged"] += 1
            if kind == "attempts":
                key = "unreachable" if answer is None else str(answer)
                self._webhook_answers[key] = self._webhook_answers.get(key, 0) + 1
            if event_type is not None:
                self._webhooks_by_type[event_type] = self._webhooks_by_type.get(event_type, 0) + 1

    def note_job_get(self, job_id: str) -> None:
        """GET /jobs/{jobId}, counted per job: how many looks a job cost."""
        with self._lock:
            self._gets_by_job[job_id] = self._gets_by_job.get(job_id, 0) + 1
            if len(self._gets_by_job) > MAX_FINGERPRINTS:
                self._gets_by_job.popitem(last=False)

    def note_planted(self) -> None:
        with self._lock:
            self._planted += 1

    def snapshot(
        self, jobs_by_status: dict[str, int], *, running_peak: int = 0, billing: dict[str, int] | None = None
    ) -> dict[str, Any]:
        """Everything counted; running_peak and billing come from the jobs themselves."""
        with self._lock:
            return {
                "uploads": sum(self._uploads.values()),
                "uploads_by_sha256": dict(self._uploads),
                "running_peak": running_peak,
                "parallel_refusals": self._parallel_refusals,
                "planted_jobs": self._planted,
                "billing": dict(billing or {"charged": 0, "refunded": 0, "net": 0}),
                "requests": {name: dict(by_status) for name, by_status in self._requests.items()},
                "requests_total": sum(sum(by_status.values()) for by_status in self._requests.values()),
                "jobs_created": self._jobs_created,
                "duplicate_submissions": self._duplicates,
                "submissions_by_prompt": dict(self._prompts),
                "concurrent_peak": self._peak,
                "rate_limited": [dict(entry) for entry in self._rate_limited],
                "jobs": dict(jobs_by_status),
                "webhooks": {
                    **self._webhooks,
                    "answers": dict(self._webhook_answers),
                    "delivered_by_type": dict(self._webhooks_by_type),
                },
                "gets_by_job": dict(self._gets_by_job),
            }
