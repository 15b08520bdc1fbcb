"""The pure parts: a job's state at a moment, timestamps, listing cursors, PNGs."""

from __future__ import annotations

import pytest

from tests.simulator.helpers import read_png
from worker.simulator.lifecycle import JobTimes, job_state
from worker.simulator.listing import decode_token, encode_token, page
from worker.simulator.messages import ApiError
from worker.simulator.png import make_png
from worker.simulator.timefmt import iso_ms, parse_iso_ms

# A job created at t=100 running 10 s: warming-up from 101, in-progress from 102.5, final at 110.
TEN = JobTimes(created_at=100.0, duration_s=10.0)


@pytest.mark.parametrize(
    ("times", "now", "status", "progress", "history"),
    [
        (TEN, 100.0, "queued", 0.0, ["queued"]),
        (TEN, 100.5, "queued", 0.0, ["queued"]),
        (TEN, 101.5, "warming-up", 0.0, ["queued", "warming-up"]),
        (TEN, 106.25, "in-progress", 0.5, ["queued", "warming-up", "in-progress"]),
        (TEN, 109.99, "in-progress", 0.99, ["queued", "warming-up", "in-progress"]),
        (TEN, 110.01, "success", 1.0, ["queued", "warming-up", "in-progress", "success"]),
        (TEN, 500.0, "success", 1.0, ["queued", "warming-up", "in-progress", "success"]),
        # A failing job stops at 60 % of its duration, its progress frozen there.
        (JobTimes(100.0, 10.0, fails=True), 106.5, "failure", 0.47, ["queued", "warming-up", "in-progress", "failure"]),
        (JobTimes(100.0, 10.0, fails=True), 105.0, "in-progress", 0.33, ["queued", "warming-up", "in-progress"]),
        # A cancel cuts the history where it came, and nothing follows it.
        (JobTimes(100.0, 10.0, canceled_at=101.5), 101.5, "canceled", 0.0, ["queued", "warming-up", "canceled"]),
        (
            JobTimes(100.0, 10.0, canceled_at=106.25),
            200.0,
            "canceled",
            0.5,
            ["queued", "warming-up", "in-progress", "canceled"],
        ),
        (JobTimes(100.0, 10.0, canceled_at=100.0), 100.0, "canceled", 0.0, ["queued", "canceled"]),
        # A cancel after the end changes nothing.
        (
            JobTimes(100.0, 10.0, canceled_at=120.0),
            130.0,
            "success",
            1.0,
            ["queued", "warming-up", "in-progress", "success"],
        ),
        # With no duration a job is queued when answered at its creation, and done right after.
        (JobTimes(100.0, 0.0), 100.0, "queued", 0.0, ["queued"]),
        (JobTimes(100.0, 0.0), 100.001, "success", 1.0, ["queued", "warming-up", "in-progress", "success"]),
    ],
)
def test_a_jobs_state_follows_from_its_times(times, now, status, progress, history) -> None:
    state = job_state(times, now)
    assert (state.status, state.progress, [s for s, _ in state.history]) == (status, progress, history)
    dates = [at for _, at in state.history]
    assert dates == sorted(dates) and state.updated_at == dates[-1]


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1750433405.356, "2025-06-20T15:30:05.356Z"),
        (1750433405.9999, "2025-06-20T15:30:05.999Z"),
    ],
)
def test_timestamps_have_milliseconds_and_a_z(t: float, text: str) -> None:
    assert iso_ms(t) == text
    assert parse_iso_ms(text) == int(t * 1000)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2025-06-20T15:30:05Z", 1750433405000),
        ("2025-06-20T17:30:05.5+02:00", 1750433405500),
        ("2025-06-20T15:30:05", 1750433405000),
    ],
)
def test_iso_dates_in_other_spellings_are_read(text: str, ms: int) -> None:
    assert parse_iso_ms(text) == ms


def test_a_cursor_token_round_trips_and_a_foreign_one_is_refused() -> None:
    assert decode_token(encode_token((123, "job_x"))) == (123, "job_x")
    with pytest.raises(ApiError) as caught:
        decode_token("bm90IGpzb24")
    assert caught.value.status == 400


def test_paging_is_newest_first_and_stops_with_no_token() -> None:
    entries = [((ms, f"job_{ms}"), ms) for ms in (5, 1, 4, 2, 3)]
    first, token = page(entries, page_size=2, after=None)
    assert first == [5, 4] and token is not None
    second, token = page(entries, page_size=2, after=decode_token(token))
    assert second == [3, 2] and token is not None
    last, token = page(entries, page_size=2, after=decode_token(token))
    assert last == [1] and token is None


@pytest.mark.parametrize(("width", "height", "palette"), [(1, 1, 0), (8, 3, 5), (1024, 768, 2), (128, 2048, 7)])
def test_a_png_is_valid_with_the_size_asked(width: int, height: int, palette: int) -> None:
    w, h, raw = read_png(make_png(width, height, palette))
    assert (w, h) == (width, height)
    assert len(raw) == height * (1 + 3 * width)
