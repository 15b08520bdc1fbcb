"""What the console answers a delivery that asks for no look: a 4xx only when the sender is at fault."""

from __future__ import annotations

import pytest

from worker.console.hooks import status_for
from worker.scenario.webhooks import Ignored


@pytest.mark.parametrize(
    ("ignored", "status"),
    [
        (Ignored.UNSIGNED, 401),
        (Ignored.FORGED, 401),
        (Ignored.STALE, 401),
        (Ignored.MALFORMED, 400),
        (Ignored.NOT_AN_END, 200),
    ],
)
def test_an_ignored_delivery_is_answered_by_why(ignored, status) -> None:
    assert status_for(ignored) == status
