"""Job options through a real system: the simulator over HTTP, the broker, a worker and the database."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from worker import (
    IdempotencyConflict,
    InputError,
    JobNotFound,
    JobOptions,
    cancel_job,
    enqueue_generation,
    enqueue_many,
    get_job,
)
from worker.db.models import Job
from worker.runtime import current
from worker.states import JobStatus

CALLERS = 20


def submissions(system, prompt: str) -> int:
    return system.sim.stats()["submissions_by_prompt"].get(prompt, 0)


def jobs_with_key(key: str) -> int:
    with current().database.session() as session:
        return session.scalar(select(func.count()).select_from(Job).where(Job.idempotency_key == key)) or 0


def test_the_same_idempotency_key_from_20_concurrent_callers_makes_one_job_and_one_scenario_job(system):
    prompt = "a brass compass on a map, idempotent"
    options = JobOptions(idempotency_key="order-1001/compass", tags=["shop"])
    start = threading.Barrier(CALLERS)
    ids: list[str] = []
    errors: list[BaseException] = []

    def caller() -> None:
        start.wait()
        try:
            ids.append(enqueue_generation(prompt, width=512, height=512, seed=3, options=options))
        except BaseException as exc:  # noqa: BLE001 - every caller's outcome is asserted below
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(ids) == CALLERS and len(set(ids)) == 1
    job = system.wait_for(ids[0])
    assert job.status is JobStatus.SUCCESS
    assert jobs_with_key("order-1001/compass") == 1
    assert submissions(system, prompt) == 1


def test_the_same_key_and_request_again_returns_the_first_job_without_a_second_submit(system):
    prompt = "a lantern in the fog, asked twice"
    options = JobOptions(idempotency_key="lantern-1", metadata={"order": 7})
    first = enqueue_generation(prompt, width=512, options=options)
    system.wait_for(first)

    again = enqueue_generation(prompt, width=512, options=options)

    assert again == first
    assert submissions(system, prompt) == 1


def test_the_same_key_with_other_inputs_is_refused_naming_the_existing_job(system):
    options = JobOptions(idempotency_key="shield-1")
    first = enqueue_generation("a wooden shield", width=512, options=options)
    before = len(system.jobs.list(limit=100_000))

    with pytest.raises(IdempotencyConflict) as caught:
        enqueue_generation("a wooden shield", width=768, options=options)

    assert caught.value.job_id == first
    assert first in str(caught.value) and "inputs" in str(caught.value)
    with pytest.raises(IdempotencyConflict) as caught:
        enqueue_generation("a wooden shield", width=512, options=JobOptions(idempotency_key="shield-1", priority=1))
    assert caught.value.differs == ["priority"]
    assert len(system.jobs.list(limit=100_000)) == before


def test_options_are_stored_on_the_row_and_read_back(system):
    options = JobOptions(
        tags=["ui", "icons"],
        metadata={"order": 42, "user": {"id": "u1"}},
        priority=2,
        callback_url="https://app.example.com/hooks/scenario",
        deadline_s=300,
    )
    job_id = enqueue_generation("a gem icon, with options", options=options)

    job = get_job(job_id)

    assert job.tags == ["ui", "icons"]
    assert job.metadata == {"order": 42, "user": {"id": "u1"}}
    assert job.priority == 2
    assert job.callback_url == "https://app.example.com/hooks/scenario"
    assert job.deadline_at is not None and job.deadline_at > job.created_at
    assert system.wait_for(job_id).status is JobStatus.SUCCESS


def test_a_job_is_not_sent_before_its_not_before(system):
    prompt = "a sunrise over dunes, scheduled"
    not_before = datetime.now(timezone.utc) + timedelta(seconds=4)
    job_id = enqueue_generation(prompt, options=JobOptions(not_before=not_before))
    # Someone sends its submit again at once (as the recovery or a woken waiter would): the claim still waits.
    from worker.dispatch import send_submit_again

    assert send_submit_again(job_id)
    time.sleep(2)
    assert submissions(system, prompt) == 0
    assert get_job(job_id).scenario_job_id is None

    job = system.wait_for(job_id, timeout_s=60)

    assert job.status is JobStatus.SUCCESS
    assert job.submitted_at is not None and job.submitted_at >= not_before
    assert submissions(system, prompt) == 1


def test_a_job_option_given_as_a_model_input_is_refused_pointing_to_job_options(system):
    before = len(system.jobs.list(limit=100_000))
    for name, value in [("tags", ["a"]), ("priority", 1), ("idempotency_key", "k"), ("countdown", 5)]:
        with pytest.raises(InputError) as caught:
            enqueue_generation("a castle", **{name: value})
        assert str(caught.value).startswith(f"{name}:")
        assert "JobOptions(" in str(caught.value)
    with pytest.raises(InputError, match=r"requests\[1\]: deadline_s: is a job option"):
        enqueue_many([{"prompt": "a castle"}, {"prompt": "a castle", "deadline_s": 60}])
    assert len(system.jobs.list(limit=100_000)) == before


def test_enqueue_many_takes_options_for_all_and_per_request(system):
    ids = enqueue_many(
        [
            {"prompt": "a rune stone, many 1"},
            {"prompt": "a rune stone, many 2", "options": JobOptions(tags=["own"], priority=1)},
            ({"prompt": "a rune stone, many 3"}, JobOptions(idempotency_key="rune-3")),
        ],
        options=JobOptions(tags=["library"], metadata={"set": "runes"}),
    )

    jobs = [get_job(job_id) for job_id in ids]
    assert [j.tags for j in jobs] == [["library"], ["own"], []]
    assert [j.priority for j in jobs] == [5, 1, 5]
    assert jobs[0].metadata == {"set": "runes"} and jobs[2].idempotency_key == "rune-3"
    assert enqueue_many([({"prompt": "a rune stone, many 3"}, JobOptions(idempotency_key="rune-3"))]) == [ids[2]]
    before = len(system.jobs.list(limit=100_000))
    with pytest.raises(IdempotencyConflict):
        enqueue_many(
            [{"prompt": "a rune stone, many 4"}, ({"prompt": "another stone"}, JobOptions(idempotency_key="rune-3"))]
        )
    assert len(system.jobs.list(limit=100_000)) == before
    for job_id in ids:
        assert system.wait_for(job_id).status is JobStatus.SUCCESS


def test_an_unknown_job_id_raises_job_not_found_when_read_and_when_canceled(system):
    with pytest.raises(JobNotFound) as read:
        get_job("nope")
    with pytest.raises(JobNotFound) as canceled:
        cancel_job("nope")
    assert read.value.job_id == canceled.value.job_id == "nope"
    assert isinstance(read.value, LookupError)


def test_a_manifests_items_carry_their_priority_and_metadata_to_their_job_rows(system):
    from worker.batches.manifest import parse_manifest
    from worker.batches.runs import submit_batch

    name = f"options-{uuid.uuid4().hex[:8]}"
    manifest = parse_manifest(
        "\n".join(
            [
                f"batch: {name}",
                "items:",
                "  - name: urgent",
                "    prompt: an urgent scroll icon",
                "    priority: 0",
                "    metadata: {rarity: epic}",
                "  - name: plain",
                "    prompt: a plain scroll icon",
            ]
        ),
        kind="yaml",
    )

    submit_batch(manifest)

    jobs = {job.item_name: job for job in system.batch_jobs(name)}
    assert (jobs["urgent"].priority, jobs["urgent"].metadata) == (0, {"rarity": "epic"})
    assert (jobs["plain"].priority, jobs["plain"].metadata) == (5, {})
    for job in jobs.values():
        assert system.wait_for(job.id).status is JobStatus.SUCCESS


def test_a_model_scenario_does_not_have_is_an_input_error_naming_model_id(system):
    with pytest.raises(InputError) as caught:
        enqueue_generation("a fox", model_id="no-such-model")

    assert str(caught.value).startswith("model_id: Scenario has no model 'no-such-model'")
