"""Listing, showing, replaying and purging dead letters from Python, against the running system."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from tests.deadletters.letters import (
    failing,
    forbidden,
    letters_for,
    new_batch,
    refused_once,
    submissions,
    unique,
)
from worker import runtime
from worker.db.models import DeadLetter
from worker.deadletters import (
    REPLAY_INTERRUPTED_AFTER_S,
    DeadLetterNotFound,
    ReplayResult,
    list_dead_letters,
    purge,
    replay,
    replay_matching,
    show_dead_letter,
)
from worker.states import JobStatus


def ids(letters) -> set[int]:
    return {letter.id for letter in letters}


@pytest.fixture(scope="module")
def three_letters(system):
    """A 400 with its own error code, a 403 on a private model, and a job Scenario failed."""
    before = datetime.now(timezone.utc)
    jobs = (
        refused_once(system, unique("a bent nail"), code="ONLY_IN_LIST_TEST"),
        forbidden(system, unique("a private sword")),
        failing(system, unique("a cursed ring")),
    )
    return before, letters_for(system, *jobs)


def test_dead_letters_can_be_listed_by_code_http_status_reason_time_and_replay_state(system, three_letters):
    before, (bad_request, private, failed) = three_letters
    after = datetime.now(timezone.utc)

    assert ids(list_dead_letters(code="ONLY_IN_LIST_TEST")) == {bad_request.id}
    by_status = list_dead_letters(http_status=403)
    assert private.id in ids(by_status) and bad_request.id not in ids(by_status)
    assert {d.http_status for d in by_status} == {403}
    by_reason = list_dead_letters(reason="job_failed")
    assert failed.id in ids(by_reason) and not {bad_request.id, private.id} & ids(by_reason)
    assert {bad_request.id, private.id, failed.id} <= ids(list_dead_letters(since=before))
    assert not {bad_request.id, private.id, failed.id} & ids(list_dead_letters(since=after))
    assert bad_request.id in ids(list_dead_letters(replayed=False))
    assert bad_request.id not in ids(list_dead_letters(replayed=True))
    assert len(list_dead_letters(limit=1)) == 1


def test_a_bad_filter_is_refused_naming_it(system):
    with pytest.raises(ValueError, match="^reason:.*permanent_error"):
        list_dead_letters(reason="bored")
    with pytest.raises(ValueError, match="^since:"):
        list_dead_letters(since=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="^limit:"):
        list_dead_letters(limit=0)


def test_showing_a_letter_gives_its_job_with_scenarios_status_history(system, three_letters):
    _, (_, _, failed) = three_letters

    detail = show_dead_letter(failed.id)

    assert detail.letter == failed
    assert detail.job.id == failed.job_id and detail.job.status is JobStatus.FAILURE
    assert [step["status"] for step in detail.job.status_history][-1] == "failure"
    assert "NSFW content detected" in detail.job.last_error["message"]
    assert detail.replayed_job is None
    with pytest.raises(DeadLetterNotFound):
        show_dead_letter(10**9)


def test_replaying_a_letter_runs_the_generation_again_as_a_new_linked_job_once(system):
    prompt = unique("a lost compass")
    batch_id = new_batch()
    (letter,) = letters_for(
        system, refused_once(system, prompt, batch_id=batch_id, item_key="compass", item_name="compass", tags=["tools"])
    )

    result = replay(letter.id)

    assert result.skipped_reason is None and result.new_job_id not in (None, letter.job_id)
    new_job = system.wait_for(result.new_job_id)
    assert new_job.status is JobStatus.SUCCESS
    assert new_job.params == letter.payload["params"]
    assert (new_job.batch_id, new_job.item_key, new_job.item_name, new_job.tags) == (
        batch_id,
        "compass",
        "compass",
        ["tools"],
    )
    marked = system.dead_letters.get(letter.id)
    assert marked.replayed_job_id == result.new_job_id and marked.replayed_at is not None
    assert show_dead_letter(letter.id).replayed_job.id == result.new_job_id

    again = replay(letter.id)

    assert again.new_job_id is None
    assert "already replayed" in again.skipped_reason and result.new_job_id in again.skipped_reason
    assert submissions(system, prompt) == 1


def test_a_dry_run_replay_changes_nothing_and_says_what_would_be_replayed(system):
    prompt = unique("a dry well")
    (letter,) = letters_for(system, refused_once(system, prompt, code="DRY_RUN_CODE"))
    jobs_before = len(system.jobs.list(limit=100_000))
    requests_before = system.sim.stats()["requests_total"]

    one = replay(letter.id, dry_run=True)
    by_code = replay_matching(code="DRY_RUN_CODE", dry_run=True)

    assert one == ReplayResult(letter.id, None, None, dry_run=True)
    assert by_code == [one]
    assert system.dead_letters.get(letter.id) == letter
    assert len(system.jobs.list(limit=100_000)) == jobs_before
    assert system.sim.stats()["requests_total"] == requests_before


def test_replaying_by_code_replays_each_matching_letter_and_no_other(system):
    matching = [refused_once(system, unique("a twin star"), code="REPLAY_BY_CODE") for _ in range(2)]
    other = refused_once(system, unique("a lone star"), code="NOT_THIS_CODE")
    letters = letters_for(system, *matching, other)

    results = replay_matching(code="REPLAY_BY_CODE")

    assert {r.dead_letter_id for r in results} == {letters[0].id, letters[1].id}
    for result in results:
        assert system.wait_for(result.new_job_id).status is JobStatus.SUCCESS
    assert system.dead_letters.get(letters[2].id).replayed_job_id is None
    assert replay_matching(code="REPLAY_BY_CODE") == []
    with pytest.raises(ValueError):
        replay_matching()
    with pytest.raises(ValueError):
        replay_matching(code="REPLAY_BY_CODE", all=True)


def test_a_replay_cut_short_before_its_job_was_recorded_is_finished_with_the_id_it_claimed(system):
    (letter,) = letters_for(system, refused_once(system, unique("a half-built bridge")))
    claimed = uuid.uuid4().hex
    # What a replay that crashed right after claiming the letter leaves behind.
    assert system.dead_letters.mark_replayed(letter.id, claimed)

    fresh = replay(letter.id)

    assert fresh.new_job_id is None and "has not recorded its job yet" in fresh.skipped_reason
    with runtime.current().database.session() as session:
        long_ago = datetime.now(timezone.utc) - timedelta(seconds=REPLAY_INTERRUPTED_AFTER_S + 5)
        session.execute(update(DeadLetter).where(DeadLetter.id == letter.id).values(replayed_at=long_ago))

    finished = replay(letter.id)

    assert finished == ReplayResult(letter.id, claimed, None)
    assert system.wait_for(claimed).status is JobStatus.SUCCESS


def test_a_letter_whose_payload_cannot_be_rebuilt_is_skipped_with_the_reason(system):
    params = {"modelId": "flux.1-dev", "prompt": "x", "style": "pi\x00el"}
    job = system.jobs.create(model_id="flux.1-dev", params=params)
    letter = system.jobs.dead_letter(
        job.id, reason="permanent_error", task_name="scenario.submit_generation", payload={}, error=None, attempts=1
    )

    result = replay(letter.id)

    assert result.new_job_id is None and "style" in result.skipped_reason
    assert system.dead_letters.get(letter.id).replayed_job_id is None


def test_a_released_replay_claim_frees_only_the_letter_claimed_for_that_job(system):
    job = system.jobs.create(model_id="flux.1-dev", params={"modelId": "flux.1-dev", "prompt": "a key"})
    letter = system.jobs.dead_letter(
        job.id, reason="poison", task_name="scenario.submit_generation", payload={}, error=None, attempts=3
    )
    assert system.dead_letters.mark_replayed(letter.id, "first")

    assert not system.dead_letters.unmark_replayed(letter.id, "someone-else")
    assert system.dead_letters.unmark_replayed(letter.id, "first")
    assert system.dead_letters.get(letter.id).replayed_job_id is None
    assert system.dead_letters.mark_replayed(letter.id, "second")


def test_purging_deletes_only_letters_written_before_the_moment_given(system, three_letters):
    _, old = three_letters
    middle = datetime.now(timezone.utc)
    (young,) = letters_for(system, forbidden(system, unique("a young sapling")))
    everything = len(system.dead_letters.list(limit=100_000))

    assert purge(datetime(2000, 1, 1, tzinfo=timezone.utc)) == 0
    assert purge(datetime(2999, 1, 1, tzinfo=timezone.utc), dry_run=True) == everything
    assert len(system.dead_letters.list(limit=100_000)) == everything

    purged = purge(middle)

    assert purged == everything - 1
    assert all(system.dead_letters.get(letter.id) is None for letter in old)
    assert system.dead_letters.get(young.id) == young
    with pytest.raises(ValueError, match="^before:"):
        purge(datetime(2999, 1, 1))
