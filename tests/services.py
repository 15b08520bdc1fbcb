"""Throwaway PostgreSQL databases, Redis DB indexes and RabbitMQ vhosts for one test run."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT", "6379"))
RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1")
RABBITMQ_PORT = int(os.environ.get("TEST_RABBITMQ_PORT", "5672"))
RABBITMQ_USER = os.environ.get("TEST_RABBITMQ_USER", "guest")
RABBITMQ_PASSWORD = os.environ.get("TEST_RABBITMQ_PASSWORD", "guest")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it afterwards."""
    import psycopg

    name = f"sw_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def throwaway_database(kind: str, folder: Path) -> Iterator[str]:
    """An empty database of that kind ("sqlite" in `folder`, or "postgres"), removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'jobs.db'}"
    else:
        with throwaway_postgres() as url:
            yield url


@contextmanager
def throwaway_redis_db() -> Iterator[str]:
    """Claim an empty Redis DB index (1..15) for this run, yield its URL, flush it afterwards.

    An index is taken only when it holds nothing (someone else's data is never flushed) and is
    marked with a key in DB 0 for as long as the run uses it.
    """
    import redis

    admin = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    db = None
    for index in range(1, 16):
        mark = f"scenario-worker:test-db:{index}"
        if not admin.set(mark, token, nx=True, ex=3600):
            continue
        candidate = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index)
        if candidate.dbsize() == 0:
            db = candidate
            break
        candidate.close()
        admin.delete(mark)  # not empty: not ours to use, nor to flush
    if db is None:
        raise RuntimeError("no empty Redis DB index in 1..15 is free for this test run")
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{index}"
    finally:
        db.flushdb()  # only what this run wrote: the index was empty when it was taken
        if admin.get(f"scenario-worker:test-db:{index}") == token.encode():
            admin.delete(f"scenario-worker:test-db:{index}")
        db.close()
        admin.close()


@contextmanager
def throwaway_rabbitmq_vhost() -> Iterator[str]:
    """Create an empty RabbitMQ vhost the test user may use, yield its AMQP URL, delete it afterwards."""
    if not port_open(RABBITMQ_HOST, RABBITMQ_PORT):
        raise RuntimeError(f"RabbitMQ does not answer on {RABBITMQ_HOST}:{RABBITMQ_PORT} (.ci/run starts it)")
    name = f"sw_test_{os.getpid()}_{secrets.token_hex(4)}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, RABBITMQ_USER, ".*", ".*", ".*")
        yield f"amqp://{RABBITMQ_USER}:{RABBITMQ_PASSWORD}@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{name}"
    finally:
        _rabbitmqctl("delete_vhost", name)


@contextmanager
def throwaway_broker(kind: str, redis_url: str) -> Iterator[str]:
    """The broker of that kind for one system: the run's Redis DB ("redis"), or a fresh vhost ("rabbitmq")."""
    if kind == "redis":
        yield redis_url
    elif kind == "rabbitmq":
        with throwaway_rabbitmq_vhost() as url:
            yield url
    else:
        raise ValueError(f"broker: {kind!r} is not one of redis, rabbitmq")


def messages_ready(broker_url: str, queue: str) -> int:
    """Messages waiting in a queue of a Redis broker or a RabbitMQ vhost, not yet handed to a worker."""
    if broker_url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(broker_url)
        try:
            # A message with a priority waits in a list of its own beside the queue's (kombu's steps).
            return sum(client.llen(queue if step == 0 else f"{queue}\x06\x16{step}") for step in (0, 3, 6, 9))
        finally:
            client.close()
    vhost = broker_url.rsplit("/", 1)[1]
    listed = _rabbitmqctl("list_queues", "-p", vhost, "name", "messages_ready", "--no-table-headers")
    counts = dict(line.split() for line in listed.splitlines() if line.strip())
    return int(counts.get(queue, 0))


def _rabbitmqctl(*args: str) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout
