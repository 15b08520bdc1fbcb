"""Dead letters: grouped by reason and error code, one letter's payload and error, replay, purge."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from worker import runtime
from worker.cli.common import parse_when, when
from worker.console.guards import changes_state
from worker.db.models import DeadLetterReason
from worker.db.views import DeadLetterView
from worker.deadletters import (
    MATCHING_LIMIT,
    DeadLetterNotFound,
    ReplayResult,
    list_dead_letters,
    purge,
    replay,
    show_dead_letter,
)

blueprint = Blueprint("dead_letters", __name__)
# As long as the jobs list's page: the letters are rendered row by row, the groups count them all.
LETTERS_SHOWN = 100


def _group_from(form) -> tuple[str | None, str | None, int | None]:
    """A group's reason, code and HTTP status from a form or query; '' stands for "none" (a letter without one)."""
    reason = form.get("reason") or None
    if reason is not None and reason not in DeadLetterReason._value2member_map_:
        abort(400, description=f"reason: {reason!r} is not one of {', '.join(r.value for r in DeadLetterReason)}")
    status = form.get("status") or None
    if status is not None and not (status.isdigit() and 100 <= int(status) <= 599):
        abort(400, description=f"status: {status!r} is not an HTTP status (100..599)")
    return reason, form.get("code") or None, int(status) if status else None


def _in_group(letters: list[DeadLetterView], code: str | None, status: int | None) -> list[DeadLetterView]:
    # The repository treats a missing filter as "any"; a group means "exactly this, none included".
    return [d for d in letters if d.error_code == code and d.http_status == status]


@blueprint.get("/dead-letters")
def index():
    grouped = "reason" in request.args
    if not grouped:
        letters = list_dead_letters(limit=LETTERS_SHOWN)
    else:
        reason, code, status = _group_from(request.args)
        # A group with a code and a status is filtered whole by the database; "none" is told apart here.
        exact = code is not None and status is not None
        found = list_dead_letters(
            reason=reason, code=code, http_status=status, limit=LETTERS_SHOWN if exact else MATCHING_LIMIT
        )
        letters = _in_group(found, code, status)[:LETTERS_SHOWN]
    return render_template(
        "dead_letters.html",
        groups=runtime.current().dead_letters.groups(),
        letters=letters,
        grouped=grouped,
        args=request.args,
        when=when,
    )


@blueprint.get("/dead-letters/<int:dead_letter_id>")
def show(dead_letter_id: int):
    try:
        detail = show_dead_letter(dead_letter_id)
    except DeadLetterNotFound:
        abort(404, description=f"no dead letter with id {dead_letter_id}")
    return render_template("dead_letter.html", detail=detail, letter=detail.letter, when=when)


@blueprint.post("/dead-letters/replay")
@changes_state
def replay_some():
    """Replay the letters ticked, or a whole group (every letter in it not replayed yet)."""
    if request.form.get("reason"):
        reason, code, status = _group_from(request.form)
        waiting = list_dead_letters(reason=reason, replayed=False, limit=MATCHING_LIMIT)
        ids = [d.id for d in reversed(_in_group(waiting, code, status))]  # oldest first, as the CLI does
    else:
        raw = request.form.getlist("ids")
        if not raw or not all(i.isdigit() for i in raw):
            abort(400, description="ids: tick at least one dead letter (whole numbers only)")
        ids = [int(i) for i in raw]
    results = [_replay_one(i) for i in ids]
    for result in results:
        if result.skipped_reason:
            flash(f"dead letter {result.dead_letter_id} skipped: {result.skipped_reason}")
    done = [r for r in results if r.new_job_id]
    flash(f"{len(done)} replayed, {len(results) - len(done)} skipped")
    if len(ids) == 1:
        return redirect(url_for("dead_letters.show", dead_letter_id=ids[0]))
    return redirect(url_for("dead_letters.index"))


def _replay_one(dead_letter_id: int) -> ReplayResult:
    try:
        return replay(dead_letter_id)
    except DeadLetterNotFound:
        return ReplayResult(dead_letter_id, None, "no such dead letter")


@blueprint.post("/dead-letters/purge")
@changes_state
def purge_old():
    text = request.form.get("before", "").strip()
    try:
        before = parse_when(text, datetime.now(timezone.utc))
    except ValueError as exc:
        flash(f"before: {exc}")
        return redirect(url_for("dead_letters.index"))
    dry_run = request.form.get("dry_run") == "on"
    count = purge(before, dry_run=dry_run)
    verb = "would be deleted (dry run: nothing changed)" if dry_run else "deleted"
    flash(f"{count} dead letters written before {when(before)} UTC {verb}")
    return redirect(url_for("dead_letters.index"))
