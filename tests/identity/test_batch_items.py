"""A batch item is (batch, item name): queued once however many submit it, replaced when it changes."""

from __future__ import annotations

import os
import subprocess
import threading

from sqlalchemy import delete

from tests.batches.test_batch_runs import SCRIPT, wait_for_batch, write_manifest
from tests.harness import wait_until
from worker import runtime
from worker.batches.manifest import load_manifest
from worker.batches.runs import batch_progress, cancel_batch, export_batch, submit_batch
from worker.db.models import BatchItem
from worker.states import JobStatus


def submitted(name: str, count: int):
    return lambda: (
        (jobs := runtime.current().batches.current_jobs(runtime.current().batches.find(name).id))
        and (sum(1 for j in jobs.values() if j.scenario_job_id) >= count)
    )


def test_two_concurrent_submits_of_one_manifest_queue_each_of_its_200_items_once(system, tmp_path):
    prompt = "a tiny gem icon raced by two submitters"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=0.2)
    manifest = load_manifest(write_manifest(tmp_path / "gems.yaml", "raced-gems", 200, prompt=prompt))
    before = system.sim.stats()["jobs_created"]
    reports, errors = [], []
    start = threading.Barrier(2)

    def submit() -> None:
        start.wait()
        try:
            reports.append(submit_batch(manifest))
        except Exception as exc:  # reported below: a thread's error would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert not errors
    queued = [name for report in reports for name in report.queued]
    assert sorted(queued) == sorted(item.name for item in manifest.items)
    progress = wait_for_batch("raced-gems", timeout_s=180)
    assert progress.succeeded == 200
    assert system.sim.stats()["jobs_created"] - before == 200
    assert len(system.batch_jobs("raced-gems")) == 200


def test_an_edited_item_gets_a_new_job_and_status_and_export_list_one_row_per_item(system, tmp_path):
    prompt = "a slow lantern"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=4)
    path = write_manifest(tmp_path / "lanterns.yaml", "lanterns", 3, prompt=prompt)
    submit_batch(load_manifest(path))
    wait_until(submitted("lanterns", 3), 30, "every lantern to be submitted")
    old = runtime.current().batches.current_jobs(system.batches_named("lanterns").id)["item-001"]

    path.write_text(path.read_text().replace(f"{prompt} number 1", "a quick brass lantern"))
    again = submit_batch(load_manifest(path))
    progress = wait_for_batch("lanterns", timeout_s=60)
    export = export_batch("lanterns", tmp_path / "out")

    assert again.superseded == ["item-001"] and not again.queued and not again.cancel_failures
    assert sorted(again.in_flight) == ["item-000", "item-002"]
    assert progress.items == 3 and progress.succeeded == 3 and sum(progress.counts.values()) == 3
    current = runtime.current().batches.current_jobs(system.batches_named("lanterns").id)
    assert current["item-001"].params["prompt"] == "a quick brass lantern"
    assert current["item-001"].id != old.id
    assert system.jobs.get(old.id).status is JobStatus.CANCELED
    assert runtime.current().client.get_job(old.scenario_job_id)["status"] in ("canceled", "success")
    assert export.items == 3
    assert old.scenario_job_id not in (export.index_json.read_text())
    assert len(system.batch_jobs("lanterns")) == 4


def test_resubmitting_a_finished_manifest_pays_for_nothing(system, tmp_path):
    prompt = "an already painted banner"
    manifest = load_manifest(write_manifest(tmp_path / "banners.yaml", "banners", 4, prompt=prompt))
    submit_batch(manifest)
    wait_for_batch("banners", timeout_s=60)
    before = system.sim.stats()["jobs_created"]

    again = submit_batch(manifest)

    assert sorted(again.done) == [item.name for item in manifest.items]
    assert not again.queued and not again.requeued
    assert system.sim.stats()["jobs_created"] == before


def test_items_recorded_before_items_had_rows_are_found_by_their_old_keys_and_not_paid_again(system, tmp_path):
    prompt = "a shield painted before the upgrade"
    manifest = load_manifest(write_manifest(tmp_path / "shields.yaml", "old-shields", 3, prompt=prompt))
    submit_batch(manifest)
    wait_for_batch("old-shields", timeout_s=60)
    batch_id = system.batches_named("old-shields").id
    # As a database from before batch items: the jobs carry their keys, no item row exists.
    with runtime.current().database.session() as session:
        session.execute(delete(BatchItem).where(BatchItem.batch_id == batch_id))
    before = system.sim.stats()["jobs_created"]

    again = submit_batch(manifest)

    assert sorted(again.done) == [item.name for item in manifest.items]
    assert not again.queued and not again.requeued
    assert system.sim.stats()["jobs_created"] == before
    assert sorted(runtime.current().batches.items(batch_id)) == [item.name for item in manifest.items]


def test_a_batch_cancel_that_scenario_refuses_for_one_job_leaves_it_watched_and_reports_it(system, tmp_path):
    prompt = "a very slow siege engine"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=60)
    submit_batch(load_manifest(write_manifest(tmp_path / "siege.yaml", "siege", 3, prompt=prompt)))
    wait_until(submitted("siege", 3), 30, "every siege engine to be submitted")
    current = runtime.current().batches.current_jobs(system.batches_named("siege").id)
    stubborn = current["item-001"]
    system.sim.faults.add_rule(
        endpoint="cancel", job_id=stubborn.scenario_job_id, status=400, body={"reason": "Job cannot be canceled"}
    )

    report = cancel_batch("siege")
    cli = subprocess.run(
        [SCRIPT, "batch", "cancel", "siege"], env={**os.environ, **system.env}, capture_output=True, text=True
    )

    assert report.canceled == 2
    assert [f.job_id for f in report.failures] == [stubborn.id]
    assert "Job cannot be canceled" in report.failures[0].error
    assert not system.jobs.get(stubborn.id).status.is_final
    assert cli.returncode == 1, cli.stderr
    assert "not canceled: item-001" in cli.stderr
    # Still watched: once Scenario lets it go, the next cancel ends it.
    system.sim.faults.clear()
    assert cancel_batch("siege").canceled == 1
    assert batch_progress("siege").counts == {JobStatus.CANCELED.value: 3}
