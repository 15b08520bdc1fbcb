"""Whole libraries through the real system: manifest in, named images and an index out."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
from pathlib import Path

from tests.harness import ROOT, wait_until
from worker.batches.images import png_size
from worker.batches.manifest import load_manifest
from worker.batches.runs import batch_progress, estimate_batch, export_batch, submit_batch

SCRIPT = str(ROOT / ".venv" / "bin" / "scenario-worker")


def write_manifest(path: Path, name: str, items: int, *, prompt: str, samples: int = 1) -> Path:
    lines = [f"batch: {name}", "defaults:", "  width: 256", "  height: 256", f"  samples: {samples}", "items:"]
    for n in range(items):
        lines += [f"  - name: item-{n:03d}", f'    prompt: "{prompt} number {n}"', "    tags: [test]"]
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for_batch(name: str, *, timeout_s: float = 60.0):
    """The batch's progress once every item is final and, with a folder, every image fetched."""

    def done():
        progress = batch_progress(name)
        return progress if progress.settled else None

    return wait_until(
        done, timeout_s, f"batch {name} to finish", every_s=0.25, on_timeout=lambda: str(batch_progress(name).as_dict())
    )


def test_a_thirty_item_manifest_ends_as_thirty_named_images_and_a_correct_index(system, tmp_path):
    manifest = load_manifest(write_manifest(tmp_path / "icons.yaml", "thirty-icons", 30, prompt="a shiny gem icon"))
    out = tmp_path / "library"

    report = submit_batch(manifest, out_dir=out)
    progress = wait_for_batch("thirty-icons")
    exported = export_batch("thirty-icons", out)

    assert len(report.queued) == 30 and progress.succeeded == 30
    files = sorted(p.name for p in out.glob("*.png"))
    assert files == [f"item-{n:03d}.png" for n in range(30)]
    index = json.loads((out / "index.json").read_text())
    assert index["batch"] == "thirty-icons" and len(index["items"]) == 30
    for entry in index["items"]:
        [file] = entry["files"]
        data = (out / file["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == file["sha256"]
        assert file["bytes"] == len(data)
        assert png_size(data) == (file["width"], file["height"]) == (256, 256)
        assert entry["scenario_job_id"].startswith("job_") and entry["prompt"].startswith("a shiny gem icon")
    rows = list(csv.DictReader((out / "index.csv").open()))
    assert len(rows) == 30 and rows[0]["item"] == "item-000" and rows[0]["file"] == "item-000.png"
    assert exported.files == 30 and not exported.missing
    stats = system.sim.stats()
    assert stats["duplicate_submissions"] == 0
    assert all(stats["submissions_by_prompt"][f"a shiny gem icon number {n}"] == 1 for n in range(30))


def test_a_malformed_manifest_enqueues_nothing_and_names_every_problem(system, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "batch: broken-library\n"
        "items:\n"
        "  - name: sword\n"
        "    prompt: a sword\n"
        "  - name: sword\n"
        "    prompt: another sword\n"
        "  - name: ../escape\n"
        "    prompt: a key\n"
        "  - name: shield\n"
        "    prompt: a shield\n"
        "    width: 1001\n"
    )
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("batch: x\nitems: [\n  - name: a\n")
    before = system.sim.stats()["requests_total"]
    jobs_before = len(system.jobs.list(limit=100_000))
    env = {**os.environ, **system.env}

    bad_run = subprocess.run([SCRIPT, "batch", "submit", str(bad)], env=env, capture_output=True, text=True, timeout=60)
    yaml_run = subprocess.run(
        [SCRIPT, "batch", "submit", str(broken_yaml)], env=env, capture_output=True, text=True, timeout=60
    )

    assert bad_run.returncode == 2 and yaml_run.returncode == 2
    assert "nothing was queued" in bad_run.stderr
    assert f"{bad}:5: item 'sword'" in bad_run.stderr  # the duplicate, on its own line
    assert "../escape" in bad_run.stderr
    assert f"{bad}:11: item 'shield': width" in bad_run.stderr
    assert str(broken_yaml) in yaml_run.stderr
    assert len(system.jobs.list(limit=100_000)) == jobs_before
    assert system.sim.stats()["requests_total"] == before
    assert system.batches_named("broken-library") is None


def test_a_dry_run_prints_each_items_cost_and_creates_no_job(system, tmp_path):
    path = write_manifest(tmp_path / "quote.yaml", "priced-library", 4, prompt="a quoted potion", samples=2)
    created_before = system.sim.stats()["jobs_created"]
    env = {**os.environ, **system.env}

    run = subprocess.run(
        [SCRIPT, "batch", "submit", str(path), "--dry-run", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr
    quote = json.loads(run.stdout)
    assert set(quote["items"]) == {f"item-{n:03d}" for n in range(4)}
    assert quote["total"] == sum(quote["items"].values()) > 0
    assert quote["total"] == estimate_batch(load_manifest(path)).total
    assert system.sim.stats()["jobs_created"] == created_before
    assert system.batches_named("priced-library") is None


def test_a_batch_stopped_halfway_and_resubmitted_finishes_with_no_item_submitted_twice(system, tmp_path):
    prompt = "a slow rune stone"
    system.sim.faults.job_duration(prompt_contains=prompt, seconds=3)
    first = load_manifest(write_manifest(tmp_path / "runes.yaml", "rune-stones", 12, prompt=prompt))
    submit_batch(first)
    wait_until(
        lambda: sum(1 for j in system.batch_jobs("rune-stones") if j.scenario_job_id) >= 4,
        20,
        "some items to be submitted",
    )

    system.workers[-1].kill()
    grown = load_manifest(write_manifest(tmp_path / "runes.yaml", "rune-stones", 15, prompt=prompt))
    again = submit_batch(grown)
    system.start_worker(name="after-stop")
    progress = wait_for_batch("rune-stones", timeout_s=60)

    assert sorted(again.queued) == ["item-012", "item-013", "item-014"]
    assert not again.requeued
    assert progress.succeeded == 15
    stats = system.sim.stats()
    assert stats["duplicate_submissions"] == 0
    assert all(stats["submissions_by_prompt"][f"{prompt} number {n}"] == 1 for n in range(15))
