"""The worker's heartbeat file and the decision whether its worker is alive (worker/heartbeat.py)."""

from __future__ import annotations

import pytest

from worker.heartbeat import Beat, judge, read_beat, write_beat

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("beat", "max_age_s", "alive", "says"),
    [
        (None, 60, False, "no heartbeat"),
        (Beat(NOW - 5, "w1@host", 7), 60, True, "last beat 5 s ago from w1@host pid 7"),
        (Beat(NOW - 60, "w1@host", 7), 60, True, "last beat 60 s ago"),
        (Beat(NOW - 61, "w1@host", 7), 60, False, "last beat 61 s ago (more than 60 s)"),
        (Beat(NOW - 61, "w1@host", 7), 120, True, "last beat 61 s ago"),
        # A clock that stepped back makes a beat from "the future": still fresh, never a negative age.
        (Beat(NOW + 3, "w1@host", 7), 60, True, "last beat 0 s ago"),
    ],
)
def test_a_worker_is_alive_while_its_last_beat_is_no_older_than_the_max_age(beat, max_age_s, alive, says):
    verdict, why = judge(beat, now=NOW, max_age_s=max_age_s)

    assert verdict is alive
    assert says in why


def test_a_beat_written_is_read_back(tmp_path):
    path = tmp_path / "deep" / "heartbeat"

    written = write_beat(path, "w1@host", now=NOW)

    assert read_beat(path) == written == Beat(NOW, "w1@host", written.pid)
    assert [p.name for p in path.parent.iterdir()] == ["heartbeat"]


@pytest.mark.parametrize("content", ["", "not json", '{"time": "soon"}', '{"hostname": "w1"}', "[]"])
def test_a_file_that_is_not_a_beat_counts_as_none(tmp_path, content):
    path = tmp_path / "heartbeat"
    path.write_text(content)

    assert read_beat(path) is None


def test_no_file_counts_as_none(tmp_path):
    assert read_beat(tmp_path / "missing") is None
