"""Real systems with faults injected mid-run: a throwaway Redis to kill, a proxy in front of PostgreSQL."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.proxy import FlakyProxy
from tests.conftest import KEY, SECRET
from tests.harness import System, free_port, running_system, wait_until
from tests.services import throwaway_postgres, throwaway_rabbitmq_vhost
from worker.batches.manifest import load_manifest
from worker.batches.runs import batch_progress, export_batch, submit_batch
from worker.simulator import SimulatorConfig
from worker.states import JobStatus

# The production recovery: the broker's visibility timeout (1 h) brings nothing back within a
# test, so every job of a dead worker that comes back is the recovery's doing. Deadlines and
# retries are the production ones, so an outage ends no job.
CHAOS_ENV = {
    "SCENARIO_VISIBILITY_TIMEOUT_S": "3600",
    "SCENARIO_JOB_DEADLINE_S": "900",
    "SCENARIO_MAX_RETRIES": "8",
    # A retry waits at least the simulator's Retry-After (1 s) even where no Retry-After is read.
    "SCENARIO_RETRY_BACKOFF_S": "2",
    "SCENARIO_LOG_LEVEL": "INFO",
}


class RedisServer:
    """A `redis-server` of the test's own on a free port, to kill and start again.

    `keep_data` makes it write every change to an append-only file, so a restart finds it all.
    """

    def __init__(self, folder: Path, *, keep_data: bool) -> None:
        self.port = free_port()
        self.folder = folder
        self.keep_data = keep_data
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.keep_data else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--daemonize", "no"]
            + ["--dir", str(self.folder), *persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, 10, f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()


@dataclass
class Chaos:
    """One running system and what a scenario needs to fault it and read the outcome."""

    system: System
    workdir: Path
    redis: RedisServer
    proxy: FlakyProxy | None = None

    def submit(self, name: str, items: int, prompt: str) -> Path:
        lines = [f"batch: {name}", "defaults:", "  width: 64", "  height: 64", "items:"]
        for n in range(items):
            lines += [f"  - name: item-{n:03d}", f'    prompt: "{prompt} number {n}"']
        path = self.workdir / f"{name}.yaml"
        path.write_text("\n".join(lines) + "\n")
        out = self.workdir / name
        report = submit_batch(load_manifest(path), out_dir=out)
        assert len(report.queued) == items
        return out

    def jobs(self, name: str) -> list:
        return self.system.batch_jobs(name)

    def count(self, name: str, predicate) -> int:
        return sum(1 for job in self.jobs(name) if predicate(job))

    def settle(self, name: str, *, timeout_s: float) -> float:
        """Seconds until every item of the batch is final and its images written."""
        began = time.monotonic()

        def settled() -> bool:
            try:
                return batch_progress(name).is_done
            except Exception:  # the database may be coming back
                return False

        wait_until(settled, timeout_s, f"batch {name} to settle", every_s=0.5, on_timeout=lambda: self.report(name))
        return time.monotonic() - began

    def report(self, name: str) -> str:
        progress = batch_progress(name).as_dict()
        stuck = [(j.id, j.status.value, j.scenario_job_id, j.poll_seq) for j in self.jobs(name) if not j.is_final][:10]
        return f"{progress}\nnot final: {stuck}\n{self.system.workers[-1].tail(40) if self.system.workers else ''}"

    def check_the_books(self, name: str, items: int, out: Path, *, settled_s: float, scenario: str) -> dict[str, Any]:
        """Every job final and agreeing with the simulator, none paid twice, no retry before Retry-After,
        and the batch exports; prints the counts."""
        jobs = self.jobs(name)
        stats = self.system.sim.stats()
        succeeded = [j for j in jobs if j.status is JobStatus.SUCCESS]
        dead = self.system.dead_letters.list(limit=10_000)
        early = [r for r in stats["rate_limited"] if _before_retry_after(r)]
        counts = {
            "items": items,
            "jobs": len(jobs),
            "succeeded": len(succeeded),
            "not_final": sum(1 for j in jobs if not j.is_final),
            "dead_letters": len(dead),
            "jobs_created": stats["jobs_created"],
            "duplicate_submissions": stats["duplicate_submissions"],
            "requests": stats["requests_total"],
            "rate_limited": len(stats["rate_limited"]),
            "retried_before_retry_after": len(early),
            "settled_s": round(settled_s, 1),
        }
        print(f"\n[chaos] {scenario}: {counts}")
        for r in early:
            print(
                f"[chaos] early: {r['endpoint']} after {r['retried_at'] - r['at']:.3f} s, "
                f"Retry-After {r['retry_after_s']}"
            )
        assert counts["not_final"] == 0
        assert len(jobs) == items
        assert stats["duplicate_submissions"] == 0
        assert stats["jobs_created"] == items, "each item is paid for once"
        assert early == []
        # The rows agree with the simulator's record: as many successes, each its own Scenario job.
        assert stats["jobs"].get("success", 0) == len(succeeded)
        assert len({job.scenario_job_id for job in succeeded}) == len(succeeded)
        exported = export_batch(name, out)
        assert exported.missing == []
        assert len(list(out.glob("*.png"))) == len(succeeded)
        return counts


# The simulator tells a retry by its request key: the path for most endpoints, the job for a look.
# Two requests with one key can be in flight at once (the sweep and a job's own poll may look at the
# same job), so one that arrives within this of the 429 left before it was answered: not a retry.
# No retry of ours comes that soon (waits have a floor of half a second). A submit's key is its
# own prompt and a lease keeps its deliveries apart: for submits every early one counts.
IN_FLIGHT_S = 0.05


def _before_retry_after(record: dict[str, Any]) -> bool:
    if record["retried_at"] is None or not record["retry_after_s"]:
        return False
    gap_s = record["retried_at"] - record["at"]
    if record["endpoint"] != "submit" and gap_s < IN_FLIGHT_S:
        return False
    return gap_s < record["retry_after_s"]


@contextmanager
def chaos_system(
    tmp_path: Path,
    *,
    workers: tuple[str, ...] = ("w1", "w2"),
    keep_redis_data: bool = True,
    through_proxy: bool = False,
    sim: dict[str, Any] | None = None,
    broker: str = "redis",
    **env: str,
) -> Iterator[Chaos]:
    """A system whose broker is the test's own Redis, or (`broker="rabbitmq"`) a fresh RabbitMQ vhost
    with that Redis beside it for the fleet's shared state."""
    config = SimulatorConfig(api_key=KEY, api_secret=SECRET, **{"job_duration_s": 2.0, "seed": 5, **(sim or {})})
    redis_server = RedisServer(tmp_path / "redis", keep_data=keep_redis_data).start()
    proxy = None
    try:
        with throwaway_postgres() as direct_url, _broker(broker, redis_server) as broker_url:
            url = direct_url
            if through_proxy:
                proxy = FlakyProxy("127.0.0.1", 5432).start()
                url = direct_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
            with running_system(
                database_url=url,
                broker_url=broker_url,
                redis_url=None if broker_url == redis_server.url else redis_server.url,
                workdir=tmp_path / "workers",
                sim_config=config,
                workers=(),
                **{**CHAOS_ENV, **env},
            ) as system:
                for name in workers:
                    system.start_worker(name=name, concurrency=3)
                yield Chaos(system=system, workdir=tmp_path, redis=redis_server, proxy=proxy)
    finally:
        if proxy is not None:
            proxy.stop()
        redis_server.stop()


@contextmanager
def _broker(kind: str, redis_server: RedisServer) -> Iterator[str]:
    if kind == "redis":
        yield redis_server.url
    elif kind == "rabbitmq":
        with throwaway_rabbitmq_vhost() as url:
            yield url
    else:
        raise ValueError(f"broker: {kind!r} is not one of redis, rabbitmq")


@pytest.fixture
def chaos_tmp(tmp_path) -> Path:
    return tmp_path
