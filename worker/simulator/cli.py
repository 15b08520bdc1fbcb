"""Command line: run the simulator in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading

from worker.simulator.config import ERROR_SHAPES, SimulatorConfig
from worker.simulator.simulator import Simulator

_DEFAULTS = SimulatorConfig()


def _probability(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a probability within 0..1")
    return value


def _non_negative(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if value < 0 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"{raw!r} must be 0 or more")
    return value


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} must be at least 1")
    return value


def _non_negative_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{raw!r} must be 0 or more")
    return value


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r} is not within 0..65535 (0 picks a free port)")
    return value


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "python -m worker.simulator",
        description="Run a local simulator of the Scenario API (HTTP Basic auth, models with input schemas, jobs, "
        "uploads, assets of every kind, team limits, faults).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on")
    add("--port", type=_port, default=8765, help="port to listen on; 0 picks a free one")
    add("--api-key", default=_DEFAULTS.api_key, help="API key the simulator accepts")
    add("--api-secret", default=_DEFAULTS.api_secret, help="API secret the simulator accepts")
    add(
        "--job-duration",
        type=_non_negative,
        default=_DEFAULTS.job_duration_s,
        metavar="SECONDS",
        help="how long a job takes from queued to final",
    )
    add(
        "--job-duration-jitter",
        type=_probability,
        default=_DEFAULTS.job_duration_jitter,
        metavar="FRACTION",
        help="each job's duration varies by up to this fraction",
    )
    add(
        "--rate-limit",
        type=_non_negative,
        default=_DEFAULTS.rate_limit_per_s,
        metavar="PER_SECOND",
        help="requests per second per API key before 429s; 0 turns the limit off",
    )
    add("--burst", type=_positive_int, default=_DEFAULTS.rate_limit_burst, help="token bucket size, in requests")
    add("--seed", type=int, default=None, help="seed of the random faults; None picks a fresh one, printed at start")
    for kind, what in (
        ("429", "answer 429 with Retry-After"),
        ("500", "answer 500"),
        ("502", "answer 502"),
        ("503", "answer 503"),
        ("slow", "wait --slow-seconds before answering"),
        ("drop", "close the connection without answering"),
        ("job-failure", "make a new job end in failure"),
    ):
        add(f"--rate-{kind}", type=_probability, default=0.0, metavar="P", help=f"probability (0..1) to {what}")
    add("--slow-seconds", type=_non_negative, default=_DEFAULTS.slow_s, help="delay of a slow answer")
    add(
        "--asset-url-ttl",
        type=_non_negative,
        default=_DEFAULTS.asset_url_ttl_s,
        metavar="SECONDS",
        help="how long a signed asset download URL stays valid",
    )
    add("--max-jobs", type=_positive_int, default=_DEFAULTS.max_jobs, help="jobs kept before old final ones go")
    add("--credits", type=_non_negative, default=_DEFAULTS.credits, help="creative units per API key")
    add(
        "--parallel-inferences",
        type=_non_negative_int,
        default=_DEFAULTS.parallel_inferences,
        metavar="N",
        help="jobs of the team not final at once before a submit gets 429 'Too many parallel jobs'; 0 = no cap",
    )
    add(
        "--error-shape",
        choices=ERROR_SHAPES,
        default=_DEFAULTS.error_shape,
        help="error bodies: scenario {status, code, message}; reason {reason}; mixed rotates through "
        "code/message, reason, reason+details, message+hint",
    )
    add(
        "--strict-list-filters",
        action="store_true",
        help="GET /jobs answers 400 to updatedAfter without status/type/types/workflowId (else ignores it)",
    )
    add(
        "--max-upload-bytes",
        type=_positive_int,
        default=_DEFAULTS.max_upload_bytes,
        metavar="BYTES",
        help="largest image POST /assets takes (decoded); beyond it, 413",
    )
    add(
        "--webhook-url",
        default="",
        metavar="URL",
        help="send every job's end event (inference.completed / failed / cancelled) to this URL; "
        "more endpoints can be registered with POST /_sim/webhooks",
    )
    add(
        "--webhook-secret",
        default="",
        metavar="SECRET",
        help="the secret signing those events (Standard Webhooks headers); empty: one is made up and printed",
    )
    add("--verbose", action="store_true", help="log every request to stderr")
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        api_key=args.api_key,
        api_secret=args.api_secret,
        job_duration_s=args.job_duration,
        job_duration_jitter=args.job_duration_jitter,
        rate_limit_per_s=args.rate_limit,
        rate_limit_burst=args.burst,
        seed=args.seed,
        asset_url_ttl_s=args.asset_url_ttl,
        max_jobs=args.max_jobs,
        credits=args.credits,
        rate_429=args.rate_429,
        rate_500=args.rate_500,
        rate_502=args.rate_502,
        rate_503=args.rate_503,
        rate_slow=args.rate_slow,
        rate_drop=args.rate_drop,
        rate_job_failure=args.rate_job_failure,
        slow_s=args.slow_seconds,
        parallel_inferences=args.parallel_inferences,
        error_shape=args.error_shape,
        strict_list_filters=args.strict_list_filters,
        max_upload_bytes=args.max_upload_bytes,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        verbose=args.verbose,
    )


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run until SIGINT or SIGTERM; 0 on a clean stop, 1 when the port cannot be used, 2 on bad flags."""
    args = build_parser(prog).parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    simulator = Simulator(config, host=args.host, port=args.port)
    try:
        simulator.start()
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = _on_signals(lambda *_: stop.set())
    try:
        print(
            f"Scenario simulator at {simulator.api_url} (key {config.api_key}, secret {config.api_secret}, "
            f"seed {simulator.faults.seed}); try: curl -u {config.api_key}:{config.api_secret} "
            f"{simulator.api_url}/models/flux.1-dev",
            flush=True,
        )
        for endpoint in simulator.webhooks.endpoints():
            print(f"webhooks to {endpoint.url}, signed with {endpoint.secret}", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        _restore(previous)
        simulator.stop()
    return 0


def _on_signals(handler) -> dict[int, object]:  # noqa: ANN001 (a signal handler)
    # Signal handlers can only be set from the main thread; elsewhere Ctrl-C still stops us.
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]
