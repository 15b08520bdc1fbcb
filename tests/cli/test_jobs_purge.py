"""`scenario-worker jobs purge` run as the console script against the running system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.batches.test_batch_runs import wait_for_batch, write_manifest
from tests.cli.test_dlq_cli import run
from tests.cli.test_jobs_cli import RUNNING
from tests.deadletters.letters import letters_for, new_batch, quick, refused_once, unique
from worker import cancel_job, enqueue_generation
from worker.batches.manifest import load_manifest
from worker.batches.runs import submit_batch


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--before", "soon"), "argument --before: 'soon' is neither a date"),
        (("--before", "2999-01-01"), "argument --before: '2999-01-01' is in the future"),
        ((), "the following arguments are required: --before"),
        (("--before", "30d", "--keep-files", "--with-files"), "argument --with-files: not allowed with argument"),
        (("--before", "30d", "--chunk", "0"), "argument --chunk: must be at least 1"),
    ],
)
def test_a_bad_argument_is_refused_by_name_before_anything_is_read(args, complaint):
    done = run("jobs", "purge", *args)

    assert done.returncode == 2
    assert complaint in done.stderr


def test_an_unknown_batch_is_named_and_nothing_is_deleted(system):
    finished = system.wait_for(enqueue_generation(quick(system, unique("a pebble"))))

    done = run("jobs", "purge", "--before", "0s", "--batch", "no-such-batch", env=system.env)

    assert done.returncode == 1
    assert "no batch named or with id 'no-such-batch'" in done.stderr
    assert system.jobs.get(finished.id) is not None


def test_a_purge_deletes_final_jobs_with_their_letters_and_items_and_leaves_running_work_alone(system):
    slow = unique("a glacier, very slow")
    system.sim.faults.job_duration(prompt_contains=slow, seconds=60)
    running = system.wait_for(enqueue_generation(slow), statuses=RUNNING)
    succeeded = system.wait_for(enqueue_generation(quick(system, unique("a green field"))))
    (letter,) = letters_for(system, refused_once(system, unique("a torn map")))
    batch_id = new_batch(items=1)
    # Not queued by anyone: the recovery sends it on, and Scenario keeps it running.
    waiting = system.jobs.create(model_id="flux.1-dev", params={"prompt": slow}, batch_id=batch_id).id
    finals = sum(n for status, n in system.jobs.count_by_status().items() if status.is_final)
    letters = len(system.dead_letters.list(limit=1000))

    dry = run("jobs", "purge", "--before", "0s", "--dry-run", "--json", env=system.env)

    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) | {"before": None} == {
        "before": None,
        "jobs": finals,
        "dead_letters": letters,
        "batch_items": 0,
        "files_deleted": 0,
        "files_kept": 0,
        "dry_run": True,
    }
    assert system.jobs.get(succeeded.id) is not None and system.dead_letters.get(letter.id) is not None

    done = run("jobs", "purge", "--before", "0s", "--chunk", "2", env=system.env)

    assert done.returncode == 0, done.stderr
    *progress, summary = done.stdout.splitlines()
    assert progress and progress[-1] == f"purged {finals}/{finals} jobs"
    assert summary.startswith(f"{finals} final jobs that ended before ") and "files kept" in summary
    assert system.jobs.get(succeeded.id) is None and system.jobs.get(letter.job_id) is None
    assert system.dead_letters.get(letter.id) is None
    assert system.jobs.get(running.id).status in RUNNING
    assert not system.jobs.get(waiting).status.is_final
    assert sum(n for status, n in system.jobs.count_by_status().items() if status.is_final) == 0
    cancel_job(running.id)
    cancel_job(waiting)


def finished_library(system, tmp_path: Path, name: str) -> tuple[list[Path], list[str]]:
    """A three-item batch generated into a folder; its files and its jobs."""
    prompt = quick(system, unique(f"a {name} icon"))
    manifest = load_manifest(write_manifest(tmp_path / f"{name}.yaml", name, 3, prompt=prompt))
    out = tmp_path / name
    submit_batch(manifest, out_dir=out)
    wait_for_batch(name)
    files = sorted(out.glob("*.png"))
    assert len(files) == 3
    return files, [job.id for job in system.batch_jobs(name)]


def test_the_images_stay_on_disk_unless_asked_and_then_only_the_purged_jobs_own(system, tmp_path):
    kept, kept_jobs = finished_library(system, tmp_path, unique("kept").replace(" ", "-"))
    kept_batch = kept[0].parent.name

    done = run("jobs", "purge", "--before", "0s", "--batch", kept_batch, "--json", env=system.env)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["jobs"], report["batch_items"], report["files_deleted"]) == (3, 3, 0)
    assert all(system.jobs.get(job_id) is None for job_id in kept_jobs)
    assert all(path.exists() for path in kept)

    gone, gone_jobs = finished_library(system, tmp_path, unique("gone").replace(" ", "-"))
    changed = gone[0]
    changed.write_bytes(b"edited by hand")

    done = run(
        "jobs", "purge", "--before", "0s", "--batch", gone[0].parent.name, "--with-files", "--json", env=system.env
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["jobs"], report["files_deleted"], report["files_kept"]) == (3, 2, 1)
    assert all(system.jobs.get(job_id) is None for job_id in gone_jobs)
    assert [path for path in gone if path.exists()] == [changed]
    assert all(path.exists() for path in kept)
