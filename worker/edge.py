"""Where the public API meets the parts below it: their errors become ours.

Callers catch `WorkerError` (or one of its classes) and never need to know that a job row
lives in SQLAlchemy, a message in kombu or the fleet's state in Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc

from worker.errors import BrokerUnavailable, DatabaseError, DatabaseUnavailable, InputError, WorkerError
from worker.fleet.errors import FleetUnavailable

_DATABASE_DOWN = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.TimeoutError)


@contextmanager
def at_the_edge() -> Iterator[None]:
    """Raise the errors of the database, the broker and Redis as WorkerErrors, the cause kept, and
    a bare ValueError about an input (a local image that cannot be uploaded now) as InputError."""
    try:
        yield
    except WorkerError:
        raise
    except _DATABASE_DOWN as exc:
        raise DatabaseUnavailable(_reason(exc)) from exc
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise DatabaseError(_reason(exc)) from exc
    except redis.exceptions.RedisError as exc:
        raise FleetUnavailable(f"Redis did not answer: {_reason(exc)}") from exc
    except kombu.exceptions.KombuError as exc:
        raise BrokerUnavailable(_reason(exc)) from exc
    except ValueError as exc:
        # The project's convention: a ValueError names the input and what is allowed.
        raise InputError("", [str(exc)]) from exc


def broker_error(exc: BaseException) -> BaseException:
    """A failed publish as the caller should see it: BrokerUnavailable unless it is ours already."""
    if isinstance(exc, WorkerError):
        return exc
    if isinstance(exc, (kombu.exceptions.KombuError, redis.exceptions.RedisError, OSError)):
        return BrokerUnavailable(_reason(exc))
    return exc


def _reason(exc: BaseException) -> str:
    # SQLAlchemy appends its statement and a link to every message: the first line says enough,
    # and a statement's parameters have no place in a caller's error.
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text.strip().splitlines()[0]
