"""Sending a job to Scenario exactly once: claim, check, send, record, watch.

The job row is the one authority on who may send a job. A sender takes it by a
compare-and-set that hands out a fencing number (`claim`); it settles a cancel that came
first, a lapsed deadline and a lost earlier answer (`check`); it spends money only through
the one statement that proves its claim still stands and no cancel was asked for (`send`);
it stores the answer whoever else has come since, cancels a surplus Scenario job, and
carries out a cancel that came while it was sending (`record`); then the job is watched.

Redis only helps (slots, pauses, the request budget): on any broker, with or without it,
two senders cannot both send a job, because only one of them can hold its row's claim.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Any

from worker import runtime
from worker.cancellation import cancel_on_scenario
from worker.celery_app import app
from worker.db.claims import Claim
from worker.db.jobs import JobView, ScenarioJobTaken
from worker.db.models import DeadLetterReason
from worker.db.submissions import answer_may_still_come
from worker.dispatch import job_ended
from worker.fleet.errors import NotYetDue, SubmitInProgress, SubmitsPaused, Throttled
from worker.fleet.pause import PauseUnavailable
from worker.generation import inputs_of
from worker.labels import remember
from worker.retrying import AnswerMayStillCome, LookAgain, error_details
from worker.scenario.errors import NetworkError, PaymentRequired, ScenarioError, Unauthorized
from worker.scenario.models import Submission
from worker.spending import batch_budget_cu, estimate_cu
from worker.tasks.base import GenerationTask, begin, dead_letter, delivery_of, event
from worker.tasks.generation import watch_once
from worker.tasks.lost_answer import find_earlier_submission
from worker.tasks.slots import give_back_slot, is_parallel_limit, refuse_for_the_plan, still_waiting, take_slot

log = logging.getLogger("worker.tasks")


def request_horizon_s() -> float:
    return runtime.current().settings.request_horizon_s


def answer_horizon_s() -> float:
    return runtime.current().settings.answer_horizon_s


@app.task(bind=True, base=GenerationTask, name="scenario.submit_generation")
def submit_generation(
    self: GenerationTask, job_id: str, waited: int = 0, outage_since: float | None = None, seq: int = 0
) -> None:
    """Send the job to Scenario, at most once per job, then start watching it.

    `seq` names the chain of submit messages this one belongs to: a release or the recovery
    starts a new chain, and a message of an older one is a stale copy that does nothing.
    """
    if waited:
        # A job that waits for a slot looks again on its own timer: while the free slots are
        # for those ahead of it, that costs one Redis call and one row touch, not a whole claim.
        wait = still_waiting(job_id, seq)
        if wait is not None:
            raise wait
    held = _claim_at_once(self, job_id, seq)
    if held is None:
        job = begin(self, job_id)
        if job is None:
            return
        if job.scenario_job_id is not None:
            watch_once(job, ours=False)
            return
        if seq != job.submit_seq:
            log.debug("a stale submit message dropped job_id=%s seq=%s live=%s", job_id, seq, job.submit_seq)
            return
        _wait_out_an_auth_pause()
        held = claim(job_id)
    sent = None
    try:
        checked = check(self, held)
        sent = send(self, held, checked) if checked is not None and checked.scenario_job_id is None else None
    finally:
        if sent is None:
            # A recorded answer gave the claim up in its own statement (`record_submitted`).
            runtime.current().jobs.release_claim(held)
    job = sent or checked
    if job is not None and job.scenario_job_id is not None:
        # Sent or adopted under this claim: this sender starts its watch.
        job = record_cancel_request(self, job)
        watch_once(job, ours=True)


def _claim_at_once(task: GenerationTask, job_id: str, seq: int) -> Claim | None:
    """The claim of a submit with nothing in its way (its chain live, the job unsent, unclaimed and
    due), taken with its delivery counted in one statement; None when anything is in the way, or
    its message was delivered too often: the whole path (`begin`, then `claim`) finds out what."""
    rt = runtime.current()
    taken = rt.jobs.claim_delivered_submit(
        job_id, uuid.uuid4().hex, seq=seq, delivery=delivery_of(task), hold_s=request_horizon_s()
    )
    if taken is None:
        return None
    held, deliveries = taken
    if deliveries > rt.settings.max_deliveries:
        # `begin` counts it once more and dead-letters the job, as for any other task.
        rt.jobs.release_claim(held)
        return None
    try:
        _wait_out_an_auth_pause()
    except BaseException:
        rt.jobs.release_claim(held)
        raise
    if held.job is not None:
        remember(held.job)
    return held


def claim(job_id: str) -> Claim:
    """Take the job's row for this sender, or raise a wait while another sender holds it or it is not due."""
    rt = runtime.current()
    taken = rt.jobs.claim_submit(job_id, uuid.uuid4().hex, hold_s=request_horizon_s())
    if taken is not None:
        return taken
    job = rt.jobs.get(job_id)
    if job is not None and job.not_before is not None and job.not_before > _now():
        raise NotYetDue(
            f"not to be sent before {job.not_before.isoformat()}",
            retry_after_s=(job.not_before - _now()).total_seconds(),
        )
    until = job.claim_until if job is not None else None
    wait_s = max(0.5, (until - _now()).total_seconds() + 0.5) if until is not None else 0.5
    # Nothing was claimed: a final or sent job simply finds nothing to do when this comes back.
    raise SubmitInProgress("another worker is submitting this job", retry_after_s=wait_s)


def check(task: GenerationTask, claim: Claim) -> JobView | None:
    """What stands between the claim and a send; None when the job ends here (or is watched already)."""
    rt = runtime.current()
    # The claiming statement read the row back; only a claim made elsewhere needs a read.
    job = claim.job if claim.job is not None else rt.jobs.get(claim.job_id)
    if job is None or job.is_final or job.scenario_job_id is not None:
        return job if job is not None and not job.is_final else None
    if job.unanswered_submit_at is not None:
        job = _settle_a_lost_answer(task, claim, job)
        if job.scenario_job_id is not None:
            return job
    if job.cancel_requested_at is not None:
        # The cancel came while this row was held; nothing is in doubt any more, so nothing is sent.
        rt.jobs.end_before_sending(claim, job.id)
        job_ended(job.id)
        event(logging.INFO, "canceled before sending", job.id, task)
        return None
    if job.deadline_at is not None and job.deadline_at <= _now():
        message = "its deadline passed before it could be submitted; nothing was sent to Scenario"
        dead_letter(task, job.id, DeadLetterReason.DEADLINE, {"status": None, "code": "DEADLINE", "message": message})
        return None
    return job


def _settle_a_lost_answer(task: GenerationTask, claim: Claim, job: JobView) -> JobView:
    """An earlier submit's answer never came: wait until it can no longer make a job, then look for it."""
    assert job.unanswered_submit_at is not None
    left_s = answer_horizon_s() - (_now() - job.unanswered_submit_at).total_seconds()
    if left_s > 0 and answer_may_still_come(job.last_error):
        raise AnswerMayStillCome(
            f"an earlier submit's answer was lost and Scenario may still make its job; "
            f"looking for it in {left_s:.1f} s",
            retry_after_s=left_s,
        )
    runtime.current().jobs.renew_claim(claim, hold_s=request_horizon_s())
    return find_earlier_submission(task, job)


def send(task: GenerationTask, claim: Claim, job: JobView) -> JobView | None:
    """Spend money once: a slot, the inputs checked again, then the request, if the claim still stands."""
    rt = runtime.current()
    take_slot(job.id, batch_id=job.batch_id, rank=job.priority)
    params = _checked_params(job)
    if not _within_budgets(task, claim, job, params):
        give_back_slot(job.id)
        return None
    if rt.jobs.open_send(claim, hold_s=request_horizon_s()) is None:
        # The claim lapsed and was taken over, or a cancel came: this sender sends nothing.
        now = rt.jobs.get(job.id)
        if now is not None and now.cancel_requested_at is not None and rt.jobs.end_before_sending(claim, job.id):
            job_ended(job.id)
            event(logging.INFO, "canceled before sending", job.id, task)
        return None
    try:
        submission = _post(job.model_id, params)
    except Throttled as exc:
        rt.jobs.take_back_attempt(job.id, error_details(exc), claim)
        raise
    except ScenarioError as exc:
        if is_parallel_limit(exc):
            # Scenario ran nothing: a wait for a slot, not a spent attempt.
            rt.jobs.take_back_attempt(job.id, error_details(exc), claim)
            raise refuse_for_the_plan(job.id, exc, batch_id=job.batch_id, rank=job.priority) from exc
        rt.jobs.record_error(job.id, error_details(exc), claim)
        if isinstance(exc, (Unauthorized, PaymentRequired)):
            _pause_submits(task, job.id, exc)
        raise
    return record(task, claim, job, submission)


def _within_budgets(task: GenerationTask, claim: Claim, job: JobView, params: dict[str, Any]) -> bool:
    """Hold the job's expected price in its budgets; False (the job left paused) when one would pass."""
    rt = runtime.current()
    daily_cu = rt.settings.daily_cu_budget
    if job.cu_reserved is not None or (not daily_cu and batch_budget_cu(job.batch_id) is None):
        return True
    cost = estimate_cu(job.model_id, params)
    refusal = rt.budgets.reserve(claim, cu=cost, batch_id=job.batch_id, daily_limit_cu=daily_cu)
    if refusal is None:
        return True
    rt.budgets.pause(claim, refusal.reason)
    event(logging.INFO, "paused for its budget", job.id, task, reason=refusal.reason)
    return False


def record(task: GenerationTask, claim: Claim, job: JobView, submission: Submission) -> JobView:
    """Store Scenario's answer; a Scenario job the row cannot take is canceled there, never left unseen."""
    rt = runtime.current()
    ours = submission.job.get("jobId")
    try:
        job = rt.jobs.record_submitted(job.id, submission.job, cu_cost=submission.creative_units_cost, claim=claim)
    except ScenarioJobTaken as exc:
        # Only a look-alike's search can hold it; the marker stays, so this job looks again.
        raise LookAgain(str(exc), retry_after_s=rt.settings.retry_backoff_s) from exc
    if job.scenario_job_id != ours:
        _cancel_surplus(task, job, str(ours))
        return job
    if job.cu_reserved is not None:
        rt.budgets.settle(job.id, submission.creative_units_cost)
    event(logging.INFO, "submitted", job.id, task, scenario_job_id=job.scenario_job_id, cu=job.cu_cost)
    return job


def record_cancel_request(task: GenerationTask, job: JobView) -> JobView:
    """A cancel that came during the submit is carried out on Scenario now that its id is known."""
    if job.cancel_requested_at is None or job.is_final or job.scenario_job_id is None:
        return job
    try:
        result = cancel_on_scenario(job)
    except ScenarioError as exc:
        # The request stays on the row: the watcher's next look tries again.
        event(logging.WARNING, "could not cancel on Scenario yet", job.id, task, error=str(exc))
        return job
    event(logging.INFO, "canceled on Scenario", job.id, task, outcome=result.outcome.value)
    if result.status.is_final:
        job_ended(job.id)
    return runtime.current().jobs.get(job.id) or job


def _cancel_surplus(task: GenerationTask, job: JobView, surplus_id: str) -> None:
    """This sender's request made a second Scenario job for a row that holds one (its claim had lapsed)."""
    rt = runtime.current()
    try:
        rt.client.cancel_job(surplus_id)
    except ScenarioError as exc:
        event(
            logging.ERROR, "could not cancel a surplus Scenario job", job.id, task, surplus=surplus_id, error=str(exc)
        )
        return
    event(logging.WARNING, "canceled a surplus Scenario job", job.id, task, surplus=surplus_id)


def _checked_params(job: JobView) -> dict[str, Any]:
    """The job's inputs checked against the model's schema again, just before money is spent.

    A job queued while Scenario could not be reached was checked locally only; one
    that fails now is dead-lettered without a paid request (InputError is permanent).
    Defaults filled in or a seed chosen here are stored before the request leaves.
    """
    rt = runtime.current()
    if rt.preflight is None:
        return job.params
    params = rt.preflight.params_to_send(job.model_id, job.params)
    if params != job.params:
        rt.jobs.set_params(job.id, params)
    return params


def _post(model_id: str, params: dict[str, Any]) -> Submission:
    """One submit request, through the route the settings pick."""
    rt = runtime.current()
    if rt.settings.submit_route == "txt2img":
        return rt.client.submit_txt2img(params)
    return rt.client.submit_custom(model_id, inputs_of(params))


def _wait_out_an_auth_pause() -> None:
    pause = runtime.current().auth_pause
    if pause is None:
        return
    try:
        info = pause.current()
    except PauseUnavailable as exc:
        raise NetworkError(f"the fleet's submit pause in Redis cannot be read: {exc}") from exc
    if info is not None:
        raise SubmitsPaused(
            f"submits are paused fleet-wide for {info.remaining_s:.1f} s more after Scenario answered "
            f"HTTP {info.status}: {info.message}",
            retry_after_s=info.remaining_s,
        )


def _pause_submits(task: GenerationTask, job_id: str, exc: ScenarioError) -> None:
    """After a 401 or 402, hold every worker's submits for a while instead of letting each fail.

    A 403 is about this job (its model, its plan), not the credentials: it pauses nothing.
    """
    rt = runtime.current()
    if rt.auth_pause is None:
        return
    seconds = rt.settings.auth_pause_s
    try:
        rt.auth_pause.trip(seconds=seconds, status=exc.status or 0, code=exc.code, message=exc.message)
    except PauseUnavailable:
        return
    event(logging.ERROR, "pausing submits fleet-wide", job_id, task, seconds=seconds, status=exc.status, code=exc.code)


def _now() -> datetime:
    return datetime.now(timezone.utc)
