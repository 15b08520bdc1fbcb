"""`scenario-worker demo`: the whole system on this machine, generating the example library.

It starts the simulator (or uses the real service when credentials are set),
a worker and, without Redis, an embedded broker; runs the shipped game-icons
manifest with a few injected faults; writes the images and the index; prints a
summary; and stops everything it started.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from worker import runtime
from worker.cli.localstack import local_console, local_settings, local_worker
from worker.states import JobStatus

# The demo's bad item: Scenario refuses its prompt every time, so it is dead-lettered.
BAD_ITEM = "potion-of-chaos"
DEMO_KEY, DEMO_SECRET = "demo-key", "demo-secret"


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="run the example asset library end to end on this machine")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    demo.add_argument("--timeout", type=float, default=300.0, help="seconds the run may take (default 300)")
    demo.add_argument("--concurrency", type=int, default=4, help="worker processes (default 4)")
    demo.add_argument(
        "--no-webhooks",
        action="store_true",
        help="do not start the console that takes the simulator's webhooks (each job's end) as hints",
    )
    demo.set_defaults(func=run)


def say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace) -> int:
    from worker.batches.manifest import load_manifest

    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)  # the demo's own folder: each run starts clean
    out.mkdir(parents=True)
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"sqlite:///{(out / 'demo.db').resolve()}")
    settings, env = local_settings(env, workdir=out, say=say)

    manifest_path = resources.files("worker") / "examples" / "game-icons.yaml"
    name = f"game-icons-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    with resources.as_file(manifest_path) as path:
        manifest = load_manifest(path, batch_name=name)

    sim = None
    if settings.has_credentials:
        say(f"Using the real Scenario API at {settings.scenario_api_url}")
    else:
        sim = _start_simulator(manifest)
        env.update({"SCENARIO_API_URL": sim.api_url, "SCENARIO_API_KEY": DEMO_KEY, "SCENARIO_API_SECRET": DEMO_SECRET})
        say(
            f"Scenario simulator on {sim.url} with injected faults: random 429s and 500s, and one bad item ({BAD_ITEM})"
        )
    # Quick retries and polls suit a short demo; anything set in the environment wins.
    for key, value in {
        "SCENARIO_RETRY_BACKOFF_S": "1",
        "SCENARIO_RETRY_BACKOFF_MAX_S": "4",
        "SCENARIO_POLL_INITIAL_S": "0.5",
        "SCENARIO_POLL_MAX_S": "3",
        "SCENARIO_SWEEP_INTERVAL_S": "1",
        "SCENARIO_SWEEP_STALE_AFTER_S": "10",
    }.items():
        env.setdefault(key, value)
    started = time.monotonic()
    say(f"Starting a worker (concurrency {args.concurrency}); its log is {out / 'worker.log'}")
    try:
        with (
            local_worker(env, log_path=out / "worker.log", concurrency=args.concurrency),
            _webhooks_to_console(env, out, sim, off=args.no_webhooks),
        ):
            return _run_batch(manifest, out, sim, started, args.timeout)
    finally:
        if sim is not None:
            sim.stop()


@contextmanager
def _webhooks_to_console(env: dict[str, str], out: Path, sim, *, off: bool) -> Iterator[None]:
    """The console on 127.0.0.1 taking the simulator's webhooks: each job's end wakes one look at it."""
    if sim is None or off or importlib.util.find_spec("flask") is None:
        yield
        return
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with local_console({**env, "SCENARIO_WEBHOOK_SECRET": secret}, log_path=out / "console.log") as url:
        sim.add_webhook(f"{url}/hooks/scenario", secret)
        say(f"Console on {url} taking Scenario's webhooks as hints; its log is {out / 'console.log'}")
        yield


def _start_simulator(manifest):
    from worker.simulator import Simulator, SimulatorConfig

    config = SimulatorConfig(
        api_key=DEMO_KEY,
        api_secret=DEMO_SECRET,
        job_duration_s=3.0,
        job_duration_jitter=0.5,
        seed=2026,
        rate_429=0.04,
        rate_500=0.04,
        retry_after_s=1.0,
    )
    sim = Simulator(config, port=0).start()
    # A few certain faults on top of the random ones, so every run shows recovery.
    sim.faults.add_rule(endpoint="submit", status=429, retry_after="1", times=2)
    sim.faults.add_rule(endpoint="submit", status=503, times=2)
    bad = next(item for item in manifest.items if item.name == BAD_ITEM)
    sim.faults.add_rule(
        endpoint="submit",
        prompt_contains=bad.request.prompt,
        status=400,
        code="INVALID_PARAMETER",
        message='"prompt" breaks the content policy; change the prompt and submit again',
    )
    return sim


def _run_batch(manifest, out: Path, sim, started: float, timeout_s: float) -> int:
    from worker.batches.progress import progress_line
    from worker.batches.runs import batch_progress, export_batch, submit_batch

    report = submit_batch(manifest, out_dir=out)
    say(f"Batch {report.batch.name}: {len(report.queued)} items queued from {Path(manifest.source).name}")
    live = sys.stdout.isatty()
    deadline = started + timeout_s
    progress = batch_progress(report.batch.id)
    while not progress.settled and time.monotonic() < deadline:
        print(("\r" if live else "") + progress_line(progress), end="" if live else "\n", flush=True)
        time.sleep(0.5 if live else 2.0)
        progress = batch_progress(report.batch.id)
    print(("\r" if live else "") + progress_line(progress), flush=True)
    exported = export_batch(report.batch.id, out)
    _summary(progress, exported, sim, time.monotonic() - started)
    return 0 if progress.is_done and not exported.missing else 1


def _summary(progress, exported, sim, elapsed_s: float) -> None:
    rt = runtime.current()
    jobs = list(rt.batches.current_jobs(progress.batch.id).values())
    retried = sum(1 for job in jobs if job.attempts > 1)
    letters = [
        rt.dead_letters.get_for_job(job.id)
        for job in jobs
        if job.status.is_final and job.status is not JobStatus.SUCCESS
    ]
    say("")
    say(f"Summary of {progress.batch.name}")
    say(
        f"  done:            {progress.succeeded} of {progress.items} items, "
        f"{exported.files} images in {exported.out_dir}"
    )
    say(f"  index:           {exported.index_json}, {exported.index_csv}")
    say(f"  retried:         {retried} items needed more than one submit")
    say(f"  dead-lettered:   {len([x for x in letters if x])}")
    for letter in filter(None, letters):
        item = letter.payload.get("item_name") or letter.job_id
        say(
            f"    - {item}: {letter.reason.value}, HTTP {letter.http_status} {letter.error_code}: "
            f"{letter.error_message}"
        )
    from worker.batches.progress import units

    say(f"  creative units:  {units(progress.cu_spent, progress.cu_estimate)}")
    say(f"  time:            {elapsed_s:.1f} s")
    if sim is not None:
        stats = sim.stats()
        api = {k: v for k, v in stats["requests"].items() if k not in ("download", "unknown")}
        made = sum(sum(counts.values()) for counts in api.values())
        transient = sum(
            n for counts in api.values() for code, n in counts.items() if code in ("429", "500", "502", "503")
        )
        say(
            f"  Scenario calls:  {made} API requests ({made / max(1, progress.items):.1f} per item), "
            f"{transient} of them answered 429/5xx and were retried"
        )
        hooks = stats["webhooks"]
        if hooks["attempts"]:
            say(f"  webhooks:        {hooks['delivered']} hints delivered to the console, each waking one look")
    if not progress.is_done:
        say(f"  NOT FINISHED:    {progress.items - progress.finished} items still running when the time ran out")
