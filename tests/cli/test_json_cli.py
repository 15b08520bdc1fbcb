"""Every command that prints a result takes --json, its errors too; job options from the command line."""

from __future__ import annotations

import json

from tests.cli.test_dlq_cli import run, run_side_by_side
from tests.conftest import ON_POSTGRES
from tests.deadletters.letters import new_batch, quick, submissions, unique

pytestmark = ON_POSTGRES


def as_json(done) -> dict | list:
    assert done.stderr == "", done.stderr
    return json.loads(done.stdout)


def test_generate_takes_job_options_and_the_same_key_again_gives_the_same_job(system):
    prompt = quick(system, unique("a blue potion icon"))
    key = unique("cli-key").replace(" ", "-")
    flags = ("--tag", "cli", "--tag", "potions", "--meta", "order=42", "--meta", "shop=north", "--priority", "2")

    first = run("generate", prompt, *flags, "--idempotency-key", key, "--json", env=system.env)
    again = run("generate", prompt, *flags, "--idempotency-key", key, "--json", env=system.env)

    assert first.returncode == 0, first.stdout + first.stderr
    job = as_json(first)
    assert as_json(again)["id"] == job["id"]
    assert job["tags"] == ["cli", "potions"] and job["metadata"] == {"order": 42, "shop": "north"}
    assert job["priority"] == 2 and job["idempotency_key"] == key
    system.wait_for(job["id"])
    assert submissions(system, prompt) == 1

    shown, tagged, by_meta, by_other_meta = run_side_by_side(
        ("jobs", "show", job["id"], "--json"),
        ("jobs", "list", "--tag", "potions", "--json"),
        ("jobs", "list", "--meta", "order=42", "--tag", "cli", "--json"),
        ("jobs", "list", "--meta", "order=43", "--tag", "cli", "--json"),
        env=system.env,
    )
    assert as_json(shown)["status"] == "success" and as_json(shown)["metadata"]["shop"] == "north"
    assert job["id"] in [row["id"] for row in as_json(tagged)]
    assert [row["id"] for row in as_json(by_meta)] == [job["id"]]
    assert as_json(by_other_meta) == []


def test_a_wrong_option_flag_is_named(system):
    done = run("generate", "a fox", "--priority", "12", env=system.env)

    assert done.returncode == 2
    assert "argument --priority: must be a whole number from 0 to 9, got 12" in done.stderr


def test_errors_under_json_are_json_on_stdout(system):
    unknown_job, unknown_cancel, unknown_batch, bad_choice, unknown_letter = run_side_by_side(
        ("jobs", "show", "no-such-job", "--json"),
        ("cancel", "no-such-job", "--json"),
        ("batch", "status", "no-such-library", "--json"),
        ("jobs", "list", "--status", "stuck", "--json"),
        ("dlq", "show", "999999", "--json"),
        env=system.env,
    )

    for done, kind, code in [
        (unknown_job, "JobNotFound", 1),
        (unknown_cancel, "JobNotFound", 1),
        (unknown_batch, "BatchNotFound", 1),
        (bad_choice, "UsageError", 2),
        (unknown_letter, "DeadLetterNotFound", 1),
    ]:
        assert done.returncode == code, done.stdout + done.stderr
        error = as_json(done)["error"]
        assert (error["type"], error["exit_code"]) == (kind, code)
        assert error["message"]
    assert as_json(unknown_batch)["error"]["message"] == "no batch named or with id 'no-such-library'"


def test_commands_that_printed_lines_print_json_when_asked(system):
    batch_id = new_batch(items=1)
    name = system.batches_named(batch_id).name
    job_id = run("generate", quick(system, unique("a red gem")), "--json", env=system.env)

    canceled = run("cancel", as_json(job_id)["id"], "--json", env=system.env)
    purged, recovered, upgraded, batch_canceled = run_side_by_side(
        ("dlq", "purge", "--before", "3650d", "--dry-run", "--json"),
        ("jobs", "recover", "--dry-run", "--json"),
        ("db", "upgrade", "--json"),
        ("batch", "cancel", name, "--json"),
        env=system.env,
    )

    assert as_json(canceled)["job_id"] == as_json(job_id)["id"]
    assert as_json(canceled)["outcome"] in {"canceled_locally", "canceled", "requested", "already_final"}
    assert as_json(purged) == {"would_delete": 0, "before": as_json(purged)["before"]}
    assert as_json(recovered)["dry_run"] is True
    assert as_json(upgraded)["upgraded"] is True
    assert as_json(batch_canceled)["failures"] == []
