"""The console's job page shows the job's options, read from a real database through the Flask app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from tests.harness import free_port
from worker import configure, runtime
from worker.console.app import create_app
from worker.console.settings import ConsoleSettings
from worker.db.jobs import StoredOptions
from worker.db.migrate import upgrade

ADMIN = ("admin", "a-long-admin-password-1234")


@pytest.fixture
def client(tmp_path) -> Iterator[object]:
    database_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(database_url)
    configure(database_url=database_url, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    settings = ConsoleSettings.from_env(
        "127.0.0.1",
        {
            "CONSOLE_ADMIN_USER": ADMIN[0],
            "CONSOLE_ADMIN_PASSWORD": ADMIN[1],
            "CONSOLE_SECRET_KEY": "console-test-secret-key-0123456789abcdef",
        },
    )
    with create_app(settings).test_client() as client:
        form = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        signed_in = client.post("/login", data={"user": ADMIN[0], "password": ADMIN[1], "csrf_token": token})
        assert signed_in.status_code == 302
        yield client
    runtime.current().close()
    runtime.forget()


def test_the_job_page_shows_priority_schedule_key_callback_and_metadata(client):
    job = runtime.current().jobs.create(
        model_id="flux.1-dev",
        params={"prompt": "a gem"},
        tags=["shop"],
        options=StoredOptions(
            idempotency_key="order-9/gem",
            metadata={"order": 9},
            priority=1,
            not_before=datetime(2030, 1, 1, tzinfo=timezone.utc),
            callback_url="https://app.example.com/hooks/scenario",
        ),
    )

    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)

    assert '<dd id="job-priority">1</dd>' in page
    assert "order-9/gem" in page and "https://app.example.com/hooks/scenario" in page
    assert "2030-01-01" in page
    assert "&#34;order&#34;: 9" in page or '"order": 9' in page
