"""Delivering a job's completion callback: one signed POST per attempt, retried with backoff.

Its own task in the watch lane, after the job's end is written: a slow or failing receiver
never holds up a job. Each attempt is counted on the delivery's row; past the budget the
delivery is a dead letter of its own (`scenario-worker callbacks list`, `... replay ID`).
"""

from __future__ import annotations

import logging

import requests
from celery import Task

from worker import runtime
from worker.callbacks.policy import Next, after_attempt, secret_for
from worker.callbacks.signing import signed_headers
from worker.celery_app import app
from worker.db.callbacks import CallbackView
from worker.db.models import CallbackStatus

log = logging.getLogger("worker.callbacks")

USER_AGENT = "scenario-worker-callbacks/1"
# Enough of a refusal's body to say why in `callbacks list`, not a page of HTML.
MAX_ERROR_CHARS = 300

_STATUS_AFTER = {
    Next.DONE: CallbackStatus.DELIVERED,
    Next.RETRY: CallbackStatus.PENDING,
    Next.DEAD: CallbackStatus.DEAD,
    Next.GONE: CallbackStatus.GONE,
}


@app.task(name="scenario.deliver_callback", bind=True, acks_late=True, max_retries=None)  # type: ignore[untyped-decorator]
def deliver_callback(self: Task, delivery_id: int) -> str | None:
    """One attempt; a retry of this task is the next one. Returns where the delivery stands."""
    rt = runtime.current()
    settings = rt.settings
    delivery = rt.callbacks.get(delivery_id)
    if delivery is None or delivery.status is not CallbackStatus.PENDING:
        return None  # delivered, dead or replayed meanwhile: a stale copy of the message
    secret = secret_for(delivery.url, settings.callback_secret_map, settings.callback_secret)
    if secret is None:
        # Never sent unsigned: a receiver could not tell it from a forgery.
        unsigned = "no secret for this URL: set SCENARIO_CALLBACK_SECRET or an entry of SCENARIO_CALLBACK_SECRETS"
        rt.callbacks.note_attempt(delivery_id, status=CallbackStatus.DEAD, http_status=None, error=unsigned)
        log.error("callback dead-lettered delivery_id=%s job_id=%s error=%s", delivery_id, delivery.job_id, unsigned)
        return CallbackStatus.DEAD.value
    http_status, error = _post(delivery, secret, settings.callback_timeout_s)
    # The attempts of this round: a replay starts a new one with the whole budget.
    decision = after_attempt(
        http_status,
        attempts=(self.request.retries or 0) + 1,
        max_attempts=settings.callback_max_attempts,
        backoff_s=settings.callback_backoff_s,
        backoff_max_s=min(settings.callback_backoff_max_s, settings.countdown_cap_s),
    )
    status = _STATUS_AFTER[decision.next]
    row = rt.callbacks.note_attempt(delivery_id, status=status, http_status=http_status, error=error)
    level = logging.INFO if decision.next in (Next.DONE, Next.RETRY) else logging.ERROR
    log.log(
        level,
        "callback %s delivery_id=%s job_id=%s attempt=%s http_status=%s%s",
        status.value,
        delivery_id,
        delivery.job_id,
        row.attempts,
        http_status,
        f" retry_in_s={decision.delay_s:.1f} error={error}" if decision.next is Next.RETRY else "",
    )
    if decision.next is Next.RETRY:
        raise self.retry(countdown=decision.delay_s)
    return status.value


def _post(delivery: CallbackView, secret: str, timeout_s: float) -> tuple[int | None, str | None]:
    """(HTTP status or None, what went wrong or None)."""
    headers = {
        **signed_headers(secret, delivery.webhook_id, delivery.body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    try:
        # A redirect is not followed: the signature was made for this URL's receiver.
        answer = requests.post(
            delivery.url, data=delivery.body.encode(), headers=headers, timeout=timeout_s, allow_redirects=False
        )
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    if 200 <= answer.status_code < 300:
        return answer.status_code, None
    return answer.status_code, f"HTTP {answer.status_code}: {answer.text[:MAX_ERROR_CHARS]}"
