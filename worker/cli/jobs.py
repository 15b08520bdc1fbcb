"""`scenario-worker generate | status`: one job at a time."""

from __future__ import annotations

import argparse
import json
import sys
import time

from worker import runtime
from worker.cli.broker import require_broker
from worker.db.jobs import JobView
from worker.generation import DEFAULT_MODEL_ID, GenerationRequest
from worker.states import JobStatus

# GenerationRequest's field -> the flag a person typed, for error messages.
FLAGS = {
    "prompt": "PROMPT",
    "model_id": "--model",
    "width": "--width",
    "height": "--height",
    "num_samples": "--samples",
    "guidance": "--guidance",
    "num_inference_steps": "--steps",
    "negative_prompt": "--negative-prompt",
    "seed": "--seed",
}


def register(commands: argparse._SubParsersAction) -> None:
    gen = commands.add_parser("generate", help="enqueue one generation")
    gen.add_argument("prompt", metavar="PROMPT", nargs="?", help="the prompt (leave out for models that take none)")
    gen.add_argument(
        "--model", dest="model_id", default=DEFAULT_MODEL_ID, help=f"model id (default {DEFAULT_MODEL_ID})"
    )
    gen.add_argument("--width", type=int, help="pixels, a multiple of 8 (default: the model's)")
    gen.add_argument("--height", type=int, help="pixels, a multiple of 8 (default: the model's)")
    gen.add_argument("--samples", dest="num_samples", type=int, help="images to make, 1..8 (default: the model's)")
    gen.add_argument("--guidance", type=float)
    gen.add_argument("--steps", dest="num_inference_steps", type=int)
    gen.add_argument("--negative-prompt")
    gen.add_argument("--seed", type=int)
    gen.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help='any input of the model (repeatable); VALUE is read as JSON when it can be (4, true, ["a"]), '
        "else as text; a file input takes an asset id or a local image path",
    )
    gen.add_argument("--wait", action="store_true", help="wait until the job is final and print it")
    gen.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits at most (default 600)")
    gen.set_defaults(func=_generate, parser=gen)

    status = commands.add_parser("status", help="show one job")
    status.add_argument("job_id", metavar="JOB_ID")
    status.add_argument("--json", action="store_true", help="print the job as JSON")
    status.set_defaults(func=_status)


def _generate(args: argparse.Namespace) -> int:
    from worker.producer import enqueue_request

    fields = {name: getattr(args, name) for name in FLAGS}
    try:
        request = GenerationRequest(**fields, inputs=_named_values(args.inputs))
    except ValueError as exc:
        field, _, problem = str(exc).partition(": ")
        args.parser.error(f"argument {FLAGS.get(field, f'--input {field}')}: {problem or exc}")
    require_broker()
    try:
        job = enqueue_request(request)
    except ValueError as exc:
        # The model's own schema refused an input: nothing was recorded.
        args.parser.error(str(exc))
    print(job.id)
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        current = runtime.current().jobs.get(job.id)
        if current is not None and current.status.is_final:
            _print_job(current, as_json=False)
            return 0 if current.status is JobStatus.SUCCESS else 1
        time.sleep(0.5)
    print(f"scenario-worker: job {job.id} is not final after {args.timeout:g} s", file=sys.stderr)
    return 1


def _named_values(pairs: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"{pair or '(empty)'}: give an input as NAME=VALUE, e.g. aspect_ratio=16:9")
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    return values


def _status(args: argparse.Namespace) -> int:
    job = runtime.current().jobs.get(args.job_id)
    if job is None:
        print(f"scenario-worker: no job with id {args.job_id!r}", file=sys.stderr)
        return 1
    _print_job(job, as_json=args.json)
    return 0


def job_as_dict(job: JobView) -> dict:
    return {
        "id": job.id,
        "status": job.status.value,
        "scenario_job_id": job.scenario_job_id,
        "scenario_status": job.scenario_status,
        "progress": job.progress,
        "model_id": job.model_id,
        "params": job.params,
        "asset_ids": job.asset_ids,
        "attempts": job.attempts,
        "cu_cost": job.cu_cost,
        "cu_refunded": job.cu_refunded,
        "last_error": job.last_error,
        "status_history": job.status_history,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _print_job(job: JobView, *, as_json: bool) -> None:
    data = job_as_dict(job)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    print(f"{job.id}  {job.status.value}  scenario={job.scenario_job_id or '-'}  progress={job.progress:.0%}")
    for step in job.status_history:
        print(f"  {step.get('date', '?')}  {step.get('status', '?')}")
    if job.asset_ids:
        print("  assets: " + ", ".join(job.asset_ids))
    if job.last_error:
        print(f"  error: {job.last_error.get('message')}")
