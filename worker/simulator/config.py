"""Every knob of the simulator, with its default and unit, in one frozen dataclass."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# The random fault rates, each a probability 0..1 drawn once per request (or per job).
RATE_FIELDS = (
    "rate_429",
    "rate_500",
    "rate_502",
    "rate_503",
    "rate_slow",
    "rate_drop",
    "rate_job_failure",
)

ERROR_SHAPES = ("scenario", "reason", "mixed")


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated Scenario API behaves; every default is safe for a local run."""

    # HTTP Basic credentials the API accepts (username = key, password = secret).
    api_key: str = "sim-key"
    api_secret: str = "sim-secret"

    # A job goes queued -> warming-up -> in-progress -> final over this many seconds;
    # each job's duration is scaled by a uniform factor in [1 - jitter, 1 + jitter].
    job_duration_s: float = 3.0
    job_duration_jitter: float = 0.0

    # Token bucket per API key: refill rate in requests per second (0 turns it off)
    # and the bucket's size in requests.
    rate_limit_per_s: float = 0.0
    rate_limit_burst: int = 20

    # Seed of the one random.Random behind every random fault; None picks a fresh one.
    seed: int | None = None

    # How long a signed asset download URL stays valid.
    asset_url_ttl_s: float = 3600.0

    # Memory bound: beyond this many jobs the oldest final ones are forgotten.
    max_jobs: int = 10_000

    # Creative units each API key may spend; infinite by default.
    credits: float = math.inf

    # Random faults (probabilities 0..1).
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_502: float = 0.0
    rate_503: float = 0.0
    rate_slow: float = 0.0
    rate_drop: float = 0.0
    rate_job_failure: float = 0.0
    # How long a slow answer waits before it is sent.
    slow_s: float = 2.0
    # Retry-After, in seconds, carried by a random 429.
    retry_after_s: float = 1.0

    # Jobs of one team that may be not final at once; a submit beyond is refused with 429. 0 = no cap.
    parallel_inferences: int = 0
    # The error body shape: "scenario" ({"status", "code", "message"}), "reason" ({"reason"}), or "mixed"
    # (rotating through code/message, reason, reason + details, message + hint).
    error_shape: str = "scenario"
    # GET /jobs with updatedAfter but none of status/type/types/workflowId: 400 when True, else the filter is ignored.
    strict_list_filters: bool = False
    # Largest image POST /assets takes, in bytes once decoded; beyond it, 413.
    max_upload_bytes: int = 5 * 1024 * 1024

    # An endpoint that receives every job's end event (Scenario's webhooks), signed with the secret
    # (Standard Webhooks; a `whsec_` secret is made up when empty); "" sends none. More can be
    # registered at run time with POST /_sim/webhooks.
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)

    # Longest list of recorded 429s kept for the stats.
    max_rate_limited_records: int = 10_000
    # Log every request to stderr.
    verbose: bool = False

    def __post_init__(self) -> None:
        for name in RATE_FIELDS + ("job_duration_jitter",):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value!r}")
        for name in ("job_duration_s", "rate_limit_per_s", "asset_url_ttl_s", "slow_s", "retry_after_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)!r}")
        if self.rate_limit_burst < 1:
            raise ValueError(f"rate_limit_burst must be at least 1, got {self.rate_limit_burst!r}")
        if self.max_jobs < 1 or self.max_rate_limited_records < 1:
            raise ValueError("max_jobs and max_rate_limited_records must be at least 1")
        if self.credits < 0:
            raise ValueError(f"credits must not be negative, got {self.credits!r}")
        if self.parallel_inferences < 0:
            raise ValueError(f"parallel_inferences must be 0 (no cap) or more, got {self.parallel_inferences!r}")
        if self.error_shape not in ERROR_SHAPES:
            raise ValueError(f"error_shape must be one of {', '.join(ERROR_SHAPES)}, got {self.error_shape!r}")
        if self.max_upload_bytes < 1:
            raise ValueError(f"max_upload_bytes must be at least 1, got {self.max_upload_bytes!r}")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must start with http:// or https://, got {self.webhook_url!r}")
        if not self.api_key or not self.api_secret:
            raise ValueError("api_key and api_secret must not be empty")

    def rates(self) -> dict[str, float]:
        """The random fault settings, as Faults.set_rates takes them."""
        values = {name: getattr(self, name) for name in RATE_FIELDS}
        values["slow_s"] = self.slow_s
        values["retry_after_s"] = self.retry_after_s
        return values
