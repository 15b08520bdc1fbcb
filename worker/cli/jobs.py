"""`scenario-worker generate | status` (and `jobs show`): one job at a time."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from typing import Any

from worker import runtime
from worker.cli.broker import require_broker
from worker.cli.common import add_json, fail
from worker.db.jobs import JobView
from worker.generation import DEFAULT_MODEL_ID, GenerationRequest
from worker.options import DEFAULT_PRIORITY, PRIORITY_MAX, PRIORITY_MIN, JobOptions
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
    gen.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG", help="a tag (repeatable)")
    gen.add_argument(
        "--meta", dest="metadata", action="append", default=[], metavar="KEY=VALUE", help="metadata (repeatable)"
    )
    gen.add_argument("--priority", type=int, metavar="N", help=f"{PRIORITY_MIN} (first) to {PRIORITY_MAX}; default 5")
    gen.add_argument("--idempotency-key", metavar="KEY", help="the same key again gives the first call's job")
    gen.add_argument("--not-before", metavar="WHEN", help="not sent before this ISO datetime (UTC unless it says)")
    gen.add_argument("--callback-url", metavar="URL", help="an http(s) URL told when the job ends")
    gen.add_argument("--wait", action="store_true", help="wait until the job is final and print it")
    gen.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits at most (default 600)")
    add_json(gen, "the job")
    gen.set_defaults(func=_generate, parser=gen)

    status = commands.add_parser("status", help="show one job")
    register_show(status)


def register_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id", metavar="JOB_ID")
    add_json(parser, "the job")
    parser.set_defaults(func=_status)


def _generate(args: argparse.Namespace) -> int:
    from worker.producer import enqueue_request

    fields = {name: getattr(args, name) for name in FLAGS}
    try:
        request = GenerationRequest(**fields, inputs=_named_values(args.inputs))
    except ValueError as exc:
        field, _, problem = str(exc).partition(": ")
        args.parser.error(f"argument {FLAGS.get(field, f'--input {field}')}: {problem or exc}")
    try:
        options = _options(args)
    except ValueError as exc:
        args.parser.error(str(exc))
    require_broker()
    try:
        job = enqueue_request(request, options=options)
    except ValueError as exc:
        # The model's own schema refused an input, or the key names another request: nothing was recorded.
        args.parser.error(str(exc))
    if not args.wait:
        print(json.dumps(job_as_dict(job), indent=2) if args.json else job.id)
        return 0
    if not args.json:
        print(job.id)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        current = runtime.current().jobs.get(job.id)
        if current is not None and current.status.is_final:
            _print_job(current, as_json=args.json)
            return 0 if current.status is JobStatus.SUCCESS else 1
        time.sleep(0.5)
    return fail(args, f"job {job.id} is not final after {args.timeout:g} s", kind="Timeout")


# The option flags -> JobOptions' fields, for error messages in the flags' spelling.
OPTION_FLAGS = {
    "tags": "--tag",
    "metadata": "--meta",
    "priority": "--priority",
    "idempotency_key": "--idempotency-key",
    "not_before": "--not-before",
    "callback_url": "--callback-url",
}


def _options(args: argparse.Namespace) -> JobOptions:
    """The job options the flags give; ValueError naming the flag."""
    given: dict[str, Any] = {"tags": args.tags}
    try:
        given["metadata"] = _named_values(args.metadata)
    except ValueError as exc:
        raise ValueError(f"argument --meta: {exc}") from None
    for name in ("priority", "idempotency_key", "callback_url"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    if args.not_before is not None:
        try:
            moment = datetime.fromisoformat(args.not_before)
        except ValueError:
            raise ValueError(f"argument --not-before: {args.not_before!r} is not an ISO datetime") from None
        given["not_before"] = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    try:
        return JobOptions(**given)
    except ValueError as exc:
        name, _, problem = str(exc).removeprefix("options.").partition(": ")
        raise ValueError(f"argument {OPTION_FLAGS.get(name, name)}: {problem}") from None


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
        return fail(args, f"no job with id {args.job_id!r}", kind="JobNotFound")
    _print_job(job, as_json=args.json)
    return 0


def job_as_dict(job: JobView) -> dict[str, Any]:
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
        "tags": job.tags,
        "metadata": job.job_metadata,
        "priority": job.priority,
        "idempotency_key": job.idempotency_key,
        "not_before": job.not_before.isoformat() if job.not_before else None,
        "deadline_at": job.deadline_at.isoformat() if job.deadline_at else None,
        "callback_url": job.callback_url,
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
    if job.tags or job.job_metadata:
        print(f"  tags: {', '.join(job.tags) or '-'}  metadata: {json.dumps(job.job_metadata)}")
    if job.priority != DEFAULT_PRIORITY or job.not_before or job.idempotency_key or job.callback_url:
        print(
            f"  priority: {job.priority}  not before: {job.not_before.isoformat() if job.not_before else '-'}  "
            f"key: {job.idempotency_key or '-'}  callback: {job.callback_url or '-'}"
        )
