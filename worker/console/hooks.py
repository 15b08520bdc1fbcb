"""`POST /hooks/scenario`: Scenario's webhooks, open without signing in (the signature, when a
secret is set, is the check), each taken as a hint that asks for one look at its job.

Answers at once: 202 when a look is sent, 200 when there is nothing to look at (an unknown
job, one already ended, an event that is not an end), 400 for a body that is not an event,
401 for a delivery not signed with SCENARIO_WEBHOOK_SECRET, 503 when the database or the
broker does not answer (Scenario then delivers it again).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from worker.errors import WorkerError
from worker.hints import Taken, take_hint
from worker.scenario.webhooks import MAX_BODY_BYTES, Ignored

blueprint = Blueprint("hooks", __name__, url_prefix="/hooks")
# Open without a session and without the forms' CSRF token: the sender is Scenario, not a browser.
ENDPOINTS = frozenset({"hooks.scenario"})


@blueprint.post("/scenario")
def scenario() -> tuple[Response, int]:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return jsonify({"ignored": Ignored.MALFORMED.value}), 400
    try:
        outcome = take_hint(request.get_data(cache=False), dict(request.headers))
    except WorkerError as exc:
        return jsonify({"error": str(exc)}), 503
    ignored = outcome.hint.ignored
    if ignored is not None:
        return jsonify({"ignored": ignored.value}), status_for(ignored)
    assert outcome.taken is not None
    if outcome.taken is Taken.LOOK:
        return jsonify({"look": outcome.taken.value, "job_id": outcome.job_id}), 202
    return jsonify({"ignored": outcome.taken.value}), 200


def status_for(ignored: Ignored) -> int:
    """The HTTP answer to a delivery that asks for no look: 4xx only for what the sender got wrong."""
    if not ignored.sender_at_fault:
        return 200
    return 400 if ignored is Ignored.MALFORMED else 401
