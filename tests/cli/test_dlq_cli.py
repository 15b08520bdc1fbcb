"""`scenario-worker dlq ...` run as the installed console script against the running system."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import ON_POSTGRES
from tests.deadletters.letters import forbidden, letters_for, refused_once, submissions, unique
from worker.cli.common import parse_when
from worker.states import JobStatus

pytestmark = ON_POSTGRES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / ".venv" / "bin" / "scenario-worker")
NOW = datetime(2025, 6, 20, 15, 30, tzinfo=timezone.utc)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SCRIPT, *args], env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def run_side_by_side(*commands: tuple[str, ...], env: dict[str, str]) -> list[subprocess.CompletedProcess]:
    """Commands that only read, run at the same time to keep the suite quick."""
    with ThreadPoolExecutor(max_workers=min(len(commands), 3)) as pool:
        return list(pool.map(lambda args: run(*args, env=env), commands))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2025-01-31", datetime(2025, 1, 31, tzinfo=timezone.utc)),
        ("2025-01-31T12:00:00Z", datetime(2025, 1, 31, 12, tzinfo=timezone.utc)),
        ("2025-01-31T12:00", datetime(2025, 1, 31, 12, tzinfo=timezone.utc)),
        ("2025-01-31T14:00:00+02:00", datetime(2025, 1, 31, 12, tzinfo=timezone.utc)),
    ],
)
def test_a_date_or_a_duration_back_from_now_is_understood(text, expected):
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7 days", "-3d", "2025-13-01", ""])
def test_anything_else_is_refused_with_examples_of_what_works(text):
    with pytest.raises(ValueError, match="neither a date .* nor a duration"):
        parse_when(text, NOW)


# Each bad command line, and what its error must say: argparse names the argument.
BAD_ARGUMENTS = [
    (("dlq", "replay"), "one of the arguments ID --code --all is required"),
    (("dlq", "replay", "3", "--all"), "argument --all: not allowed with argument ID"),
    (("dlq", "show", "three"), "argument ID: invalid int value: 'three'"),
    (("dlq", "list", "--since", "yesterday"), "argument --since: 'yesterday' is neither a date"),
    (("dlq", "list", "--reason", "bored"), "argument --reason: invalid choice: 'bored' (choose from 'permanent_error'"),
    (("dlq", "purge", "--before", "soon"), "argument --before: 'soon' is neither a date"),
]


def test_bad_arguments_are_refused_naming_the_argument():
    results = run_side_by_side(*(args for args, _ in BAD_ARGUMENTS), env={})

    for (args, named), done in zip(BAD_ARGUMENTS, results, strict=False):
        assert (done.returncode, named in done.stderr) == (2, True), f"{' '.join(args)}: {done.stderr}"


@pytest.fixture(scope="module")
def letters(system):
    """Two letters with an error code of their own, and one 403."""
    jobs = [refused_once(system, unique("a paper crane"), code="CLI_CODE") for _ in range(2)]
    return letters_for(system, *jobs, forbidden(system, unique("a forbidden door")))


def test_list_prints_a_table_and_filters_by_code_status_time_and_replay_state(system, letters):
    coded = {letters[0].job_id, letters[1].job_id}

    table, as_json = run_side_by_side(
        ("dlq", "list", "--code", "CLI_CODE"),
        ("dlq", "list", "--status", "403", "--reason", "permanent_error", "--since", "1h", "--not-replayed", "--json"),
        env=system.env,
    )

    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "WHEN", "(UTC)", "REASON", "HTTP", "CODE", "JOB", "REPLAYED", "MESSAGE"]
    assert {row.split()[6] for row in rows} == coded
    assert all("permanent_error" in row and " 400 " in row for row in rows)
    found = json.loads(as_json.stdout)
    assert letters[2].id in {d["id"] for d in found} and {d["http_status"] for d in found} == {403}


def test_show_prints_the_error_payload_scenario_id_and_history(system, letters):
    letter = letters[0]

    text, as_json, missing = run_side_by_side(
        ("dlq", "show", str(letter.id)),
        ("dlq", "show", str(letter.id), "--json"),
        ("dlq", "show", "999999"),
        env=system.env,
    )

    assert text.returncode == 0, text.stderr
    assert f"dead letter {letter.id}  permanent_error" in text.stdout
    assert f"400 CLI_CODE: {letter.error_message}" in text.stdout
    assert letter.payload["params"]["prompt"] in text.stdout
    assert "scenario job: -" in text.stdout and "attempts:     1" in text.stdout
    shown = json.loads(as_json.stdout)
    assert shown["dead_letter"]["job_id"] == letter.job_id
    assert shown["job"]["status"] == "dead" and shown["replayed_job"] is None
    assert (missing.returncode, missing.stdout) == (1, "")
    assert "no dead letter with id 999999" in missing.stderr


def test_replay_of_one_letter_prints_its_new_job_and_a_second_replay_skips_it(system, letters):
    letter = letters[0]

    first = run("dlq", "replay", str(letter.id), env=system.env)

    assert first.returncode == 0, first.stderr
    new_job_id = first.stdout.strip().removeprefix(f"dead letter {letter.id} -> job ")
    assert system.wait_for(new_job_id).status is JobStatus.SUCCESS
    assert system.dead_letters.get(letter.id).replayed_job_id == new_job_id

    second = run("dlq", "replay", str(letter.id), env=system.env)

    assert second.returncode == 0
    assert f"dead letter {letter.id} skipped: already replayed as job {new_job_id}" in second.stdout
    assert submissions(system, letter.payload["params"]["prompt"]) == 1


def test_replay_all_in_a_dry_run_changes_nothing_then_replay_by_code_and_all_do(system, letters):
    waiting = system.dead_letters.list(replayed=False, limit=1000)
    requests_before = system.sim.stats()["requests_total"]

    dry = run("dlq", "replay", "--all", "--dry-run", env=system.env)

    assert dry.returncode == 0, dry.stderr
    assert {f"dead letter {d.id} would be replayed" for d in waiting} == set(dry.stdout.splitlines())
    assert "nothing changed" in dry.stderr
    assert system.dead_letters.list(replayed=False, limit=1000) == waiting
    assert system.sim.stats()["requests_total"] == requests_before

    by_code = run("dlq", "replay", "--code", "CLI_CODE", env=system.env)
    everything = run("dlq", "replay", "--all", env=system.env)

    assert by_code.returncode == 0 and everything.returncode == 0
    assert f"dead letter {letters[1].id} -> job " in by_code.stdout
    assert f"dead letter {letters[2].id}" not in by_code.stdout
    assert f"dead letter {letters[2].id} -> job " in everything.stdout
    assert all(system.dead_letters.get(d.id).replayed_job_id for d in waiting)
    for line in (by_code.stdout + everything.stdout).splitlines():
        system.wait_for(line.rpartition(" -> job ")[2])  # the replayed 403 is dead-lettered again meanwhile


def test_purge_deletes_only_letters_before_the_date_and_a_dry_run_only_counts(system, letters):
    stored = len(system.dead_letters.list(limit=1000))

    past, dry = run_side_by_side(
        ("dlq", "purge", "--before", "2000-01-01"),
        ("dlq", "purge", "--before", "2999-01-01", "--dry-run"),
        env=system.env,
    )

    assert past.stdout.startswith("deleted 0 dead letters written before 2000-01-01 00:00:00 UTC")
    assert dry.stdout.startswith(f"{stored} dead letters written before 2999-01-01")
    assert len(system.dead_letters.list(limit=1000)) == stored

    future = run("dlq", "purge", "--before", "2999-01-01", env=system.env)

    assert future.stdout.startswith(f"deleted {stored} dead letters")
    assert system.dead_letters.list(limit=1000) == []
