"""`/healthz` and `/readyz`: the console's HTTP probes, open without signing in.

`/healthz` says the process answers and touches nothing else; `/readyz` checks the
database, the broker and Redis (worker/probes.py) and answers 503 when one does not
answer. Neither shows a password: every address is masked.
"""

from __future__ import annotations

from flask import Response, jsonify

from worker import runtime
from worker.probes import readiness, report

ENDPOINTS = frozenset({"healthz", "readyz"})


def healthz() -> Response:
    return jsonify({"alive": True})


def readyz() -> tuple[Response, int]:
    answer = report(readiness(runtime.current()))
    return jsonify(answer), 200 if answer["ready"] else 503
