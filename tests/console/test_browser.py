"""The console in a real browser, over a running system: sign-in, batches, contact sheets, dead letters, roles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.console.conftest import ADMIN, FLOWER_URL, VIEWER, sign_in
from tests.deadletters.letters import letters_for, refused_once
from tests.harness import ROOT
from worker import enqueue_generation
from worker.batches.manifest import load_manifest
from worker.batches.runs import submit_batch
from worker.states import JobStatus

# The README's screenshots are taken by these tests; they are written to docs/ only when asked
# (`CONSOLE_SCREENSHOTS=docs make test`), so an ordinary run leaves the tree as it found it.
DOCS = ROOT / "docs" if os.environ.get("CONSOLE_SCREENSHOTS") == "docs" else None


def shot(page, name: str, tmp_path: Path) -> Path:
    path = (DOCS or tmp_path) / name
    page.screenshot(path=path)
    assert path.stat().st_size > 10_000  # a real picture of the page, not an empty one
    return path


HOSTILE_PROMPT = "a shield icon <script>window.pwned = 1</script> with a rune"
SETTLE_TIMEOUT_MS = 40_000


def write_manifest(path: Path) -> Path:
    items = [("sword-iron", "an iron sword icon"), ("potion-red", "a red potion icon"), ("gem-blue", "a blue gem icon")]
    lines = ["batch: console-icons", "defaults:", "  width: 256", "  height: 256", "items:"]
    for name, prompt in items:
        lines += [f"  - name: {name}", f'    prompt: "{prompt}"', "    tags: [icon]"]
    lines += ["  - name: shield-rune", f"    prompt: '{HOSTILE_PROMPT}'", "    tags: [icon, armor]"]
    path.write_text("\n".join(lines) + "\n")
    return path


def dead_letter_for(system, prompt: str):
    """A job Scenario refuses with HTTP 400 while the rule stands, and its dead letter."""
    job = system.wait_for(enqueue_generation(prompt, width=256, height=256))
    assert job.status is JobStatus.DEAD
    return system.dead_letters.get_for_job(job.id)


def test_pages_need_a_sign_in_and_a_wrong_password_is_refused(page, console):
    page.goto(f"{console.url}/jobs")
    assert page.url.startswith(f"{console.url}/login")

    page.fill("input[name=user]", ADMIN[0])
    page.fill("input[name=password]", "not-the-password")
    with page.expect_response(lambda r: "/login" in r.url and r.request.method == "POST") as sent:
        page.click("button[type=submit]")

    assert sent.value.status == 401
    expect(page.locator("#login-error")).to_have_text("wrong user name or password")
    page.goto(f"{console.url}/jobs")
    assert page.url.startswith(f"{console.url}/login")


@pytest.fixture(scope="module")
def icons(console, tmp_path_factory) -> str:
    """The four-item batch, submitted (not waited for: the browser watches it)."""
    manifest = write_manifest(tmp_path_factory.mktemp("manifest") / "icons.yaml")
    return submit_batch(load_manifest(manifest), out_dir=console.out_dir).batch.name


def test_a_batch_is_watched_until_done_and_its_contact_sheet_shows_every_image(page, console, icons, tmp_path):
    sign_in(page, console, ADMIN)

    page.goto(f"{console.url}/batches/{icons}")
    # The page reloads itself every 2 s until every item is final and its image fetched.
    expect(page.locator("#settled")).to_be_visible(timeout=SETTLE_TIMEOUT_MS)
    expect(page.locator("#finished")).to_have_text("4/4 finished")
    shot(page, "console-batch.png", tmp_path)

    page.click("text=Contact sheet")
    images = page.locator(".sheet img")
    expect(images).to_have_count(4)
    page.wait_for_function("() => [...document.querySelectorAll('.sheet img')].every(i => i.complete)")
    widths = images.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert widths == [256, 256, 256, 256]
    names = page.locator(".sheet .name").all_inner_texts()
    assert names == ["gem-blue.png", "potion-red.png", "shield-rune.png", "sword-iron.png"]
    shot(page, "console-contact-sheet.png", tmp_path)

    page.click(".tile:has-text('shield-rune')")
    expect(page.locator("#job-status")).to_have_text("success")
    expect(page.locator(f"a[href^='{FLOWER_URL}/task/']")).to_have_count(1)
    # Shown as text: the page holds the words "<script>", not a script element.
    expect(page.locator("#job-prompt")).to_have_text(HOSTILE_PROMPT)
    assert page.locator("#job-prompt script").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_jobs_are_filtered_by_tag_and_model_and_a_bad_filter_names_its_field(page, console, icons):
    sign_in(page, console, VIEWER)

    page.goto(f"{console.url}/jobs?tag=armor&batch={icons}")
    rows = page.locator("table.jobs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("shield-rune")
    page.goto(f"{console.url}/jobs?model=no-such-model")
    expect(rows).to_have_text(["No job matches."])
    page.goto(f"{console.url}/jobs?since=yesterday")
    expect(page.locator("p.error")).to_contain_text("since: 'yesterday' is neither a date")


def test_health_shows_the_database_the_broker_and_the_worker(page, console):
    sign_in(page, console, VIEWER)

    page.goto(f"{console.url}/health")

    expect(page.locator("tr", has_text="database")).to_contain_text("ok")
    expect(page.locator("tr", has_text="broker")).to_contain_text("ok")
    expect(page.locator("li", has_text="w1@")).to_have_count(1)
    expect(page.locator(f"a[href='{FLOWER_URL}/']").first).to_be_visible()


def test_a_dead_letter_is_opened_replayed_and_its_replay_succeeds(page, console, tmp_path):
    system = console.system
    prompt = "a cracked potion the censor refuses"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=400)
    letter = dead_letter_for(system, prompt)
    sign_in(page, console, ADMIN)

    page.goto(f"{console.url}/dead-letters")
    group = page.locator("table.groups tr", has_text="permanent_error").filter(has_text="400")
    expect(group).to_have_count(1)
    shot(page, "console-dead-letters.png", tmp_path)
    page.click(f"table.letters a[href='/dead-letters/{letter.id}']")
    expect(page.locator("#letter-error")).to_contain_text(f"HTTP 400 {letter.error_code}")
    expect(page.locator("#payload")).to_contain_text(prompt)

    system.sim.faults.clear()
    page.click("#replay")

    expect(page.locator(".flashes")).to_contain_text("1 replayed, 0 skipped")
    replayed = system.dead_letters.get(letter.id).replayed_job_id
    assert replayed is not None
    assert system.wait_for(replayed).status is JobStatus.SUCCESS
    page.click("#replayed-job")
    expect(page.locator("#job-status")).to_have_text("success")


def test_a_post_without_the_sessions_csrf_token_is_refused(page, console):
    console.system.sim.faults.add_rule(endpoint="submit", prompt_contains="a letter to protect", status=400)
    dead_letter_for(console.system, "a letter to protect")
    sign_in(page, console, ADMIN)
    before = len(console.system.dead_letters.list(limit=1000))

    missing = page.request.post(f"{console.url}/dead-letters/purge", form={"before": "0s"})
    wrong = page.request.post(f"{console.url}/dead-letters/purge", form={"before": "0s", "csrf_token": "forged"})

    assert (missing.status, wrong.status) == (400, 400)
    assert len(console.system.dead_letters.list(limit=1000)) == before


def test_the_read_only_role_sees_letters_but_has_no_replay_button_and_is_refused(page, console):
    system = console.system
    prompt = "a cursed ring only an admin may replay"
    system.sim.faults.add_rule(endpoint="submit", prompt_contains=prompt, status=400)
    letter = dead_letter_for(system, prompt)
    sign_in(page, console, VIEWER)

    page.goto(f"{console.url}/dead-letters/{letter.id}")
    expect(page.locator("#payload")).to_contain_text(prompt)
    assert page.locator("#replay").count() == 0
    page.goto(f"{console.url}/dead-letters")
    assert page.locator("input[name=ids]").count() == 0
    assert page.locator("text=Replay the group").count() == 0
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")

    refused = page.request.post(f"{console.url}/dead-letters/replay", form={"csrf_token": token, "ids": str(letter.id)})

    assert refused.status == 403
    assert system.dead_letters.get(letter.id).replayed_job_id is None


def test_a_whole_group_of_dead_letters_is_replayed_with_one_button(page, console):
    system = console.system
    jobs = [refused_once(system, f"a frozen lantern number {n}", code="CONSOLE_GROUP") for n in range(2)]
    letters = letters_for(system, *jobs)
    sign_in(page, console, ADMIN)

    page.goto(f"{console.url}/dead-letters")
    page.locator("table.groups tr", has_text="CONSOLE_GROUP").get_by_role("button").click()

    expect(page.locator(".flashes")).to_contain_text("2 replayed, 0 skipped")
    replays = [system.dead_letters.get(letter.id).replayed_job_id for letter in letters]
    assert None not in replays
    assert [system.wait_for(job_id).status for job_id in replays] == [JobStatus.SUCCESS, JobStatus.SUCCESS]
