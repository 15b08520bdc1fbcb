"""The jobs page's purge form, posted to the running console as a signed-in person's browser would."""

from __future__ import annotations

import html
import re

import requests

from tests.console.conftest import ADMIN, VIEWER
from tests.deadletters.letters import quick, unique
from worker import enqueue_generation

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FLASH = re.compile(r'<ul class="flashes"><li>(.*?)</li>')


def signed_in(console, login: tuple[str, str]) -> requests.Session:
    session = requests.Session()
    token = CSRF.search(session.get(f"{console.url}/login", timeout=10).text)[1]
    answer = session.post(
        f"{console.url}/login", data={"user": login[0], "password": login[1], "csrf_token": token}, timeout=10
    )
    assert answer.status_code == 200 and f"signed in as {login[0]}" in answer.text
    return session


def purge(session: requests.Session, console, **form: str) -> requests.Response:
    token = CSRF.search(session.get(f"{console.url}/jobs", timeout=10).text)[1]
    return session.post(f"{console.url}/jobs/purge", data={"csrf_token": token, **form}, timeout=60)


def flashed(answer: requests.Response) -> str:
    return html.unescape(FLASH.search(answer.text)[1])


def test_the_read_only_role_has_no_purge_form_and_its_post_is_refused(console):
    system = console.system
    finished = system.wait_for(enqueue_generation(quick(system, unique("a moth"))))
    viewer = signed_in(console, VIEWER)

    assert 'action="/jobs/purge"' not in viewer.get(f"{console.url}/jobs", timeout=10).text
    refused = purge(viewer, console, before="0s")

    assert refused.status_code == 403
    assert system.jobs.get(finished.id) is not None


def test_an_admin_counts_first_then_purges_and_a_bad_cutoff_is_named(console):
    system = console.system
    finished = system.wait_for(enqueue_generation(quick(system, unique("a lantern"))))
    admin = signed_in(console, ADMIN)
    assert 'action="/jobs/purge"' in admin.get(f"{console.url}/jobs", timeout=10).text

    bad = purge(admin, console, before="last tuesday", dry_run="on")
    future = purge(admin, console, before="2999-01-01")
    unknown = purge(admin, console, before="0s", batch="no-such-batch")

    assert flashed(bad).startswith("before: 'last tuesday' is neither a date")
    assert flashed(future).startswith("before: 2999-01-01T00:00:00+00:00 is in the future")
    assert flashed(unknown) == "batch: no batch named or with id 'no-such-batch'; nothing was deleted"
    assert system.jobs.get(finished.id) is not None

    dry = purge(admin, console, before="0s", dry_run="on")

    assert dry.status_code == 200
    assert re.fullmatch(
        r"[1-9]\d* final jobs that ended before .* would be deleted, with \d+ dead letters \(dry run\)", flashed(dry)
    )
    assert system.jobs.get(finished.id) is not None

    done = purge(admin, console, before="0s")

    assert re.fullmatch(
        r"[1-9]\d* final jobs that ended before .* deleted, with \d+ dead letters; files kept", flashed(done)
    )
    assert system.jobs.get(finished.id) is None
