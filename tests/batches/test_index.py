from __future__ import annotations

import csv
import errno
import io
import json
import os
import random
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from worker.batches.downloads import write_atomically
from worker.batches.index import (
    CSV_COLUMNS,
    AmbiguousIndex,
    IndexNotWritten,
    IndexRow,
    NoSpaceForIndex,
    write_index,
)

WHEN = datetime(2025, 6, 20, 15, 30, 5, 356000, tzinfo=timezone.utc)
KNIGHT_INPUTS = {"width": 512, "modelId": "flux.1-schnell", "height": 768, "numSamples": 12}


def knight(number: int) -> IndexRow:
    return IndexRow(
        item="knight-pose",
        prompt='a knight, "standing", guard\nfull body',
        inputs=KNIGHT_INPUTS,
        scenario_job_id="job_knight",
        asset_id=f"asset_k{number}",
        file=f"knight-pose_{number}.png",
        bytes=1000 + number,
        sha256=f"{number:064x}",
        width=512,
        height=768,
        tags=("hero", "pose"),
    )


AXE = IndexRow(
    item="axe",
    prompt="an iron axe icon",
    inputs={"modelId": "flux.1-dev", "width": 512, "height": 512, "numSamples": 1},
    scenario_job_id=None,
    asset_id="asset_axe",
    file="axe.png",
    bytes=321,
    sha256="ab" * 32,
    width=512,
    height=512,
)
ROWS = [knight(10), AXE, knight(2), knight(1)]


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_index_json_holds_one_object_per_item_with_its_files_in_order(tmp_path):
    json_path, _ = write_index(tmp_path, "fantasy-icons", ROWS, generated_at=WHEN)
    index = json.loads(json_path.read_text(encoding="utf-8"))
    assert index["batch"] == "fantasy-icons"
    assert index["generated_at"] == "2025-06-20T15:30:05.356Z"
    assert index["version"] == 1
    assert [item["item"] for item in index["items"]] == ["axe", "knight-pose"]
    axe, knight_item = index["items"]
    assert axe["scenario_job_id"] is None and axe["tags"] == []
    assert knight_item["prompt"] == 'a knight, "standing", guard\nfull body'
    assert knight_item["inputs"] == KNIGHT_INPUTS
    assert knight_item["tags"] == ["hero", "pose"]
    assert [f["file"] for f in knight_item["files"]] == ["knight-pose_1.png", "knight-pose_2.png", "knight-pose_10.png"]
    assert knight_item["files"][0] == {
        "file": "knight-pose_1.png",
        "asset_id": "asset_k1",
        "bytes": 1001,
        "sha256": f"{1:064x}",
        "width": 512,
        "height": 768,
        "mime_type": "image/png",
    }


def test_index_csv_has_the_header_and_one_row_per_file(tmp_path):
    _, csv_path = write_index(tmp_path, "fantasy-icons", ROWS, generated_at=WHEN)
    with open(csv_path, newline="", encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(CSV_COLUMNS)
    rows = read_csv(csv_path)
    assert [r["file"] for r in rows] == ["axe.png", "knight-pose_1.png", "knight-pose_2.png", "knight-pose_10.png"]
    axe, first_knight = rows[0], rows[1]
    assert axe["scenario_job_id"] == "" and axe["tags"] == ""
    assert (axe["bytes"], axe["width"], axe["sha256"]) == ("321", "512", "ab" * 32)
    assert first_knight["prompt"] == 'a knight, "standing", guard\nfull body'
    assert first_knight["inputs"] == '{"height":768,"modelId":"flux.1-schnell","numSamples":12,"width":512}'
    assert first_knight["tags"] == "hero;pose"
    assert first_knight["asset_id"] == "asset_k1"


def test_the_same_rows_in_any_order_give_the_same_bytes(tmp_path):
    first = [p.read_bytes() for p in write_index(tmp_path / "a", "b", ROWS, generated_at=WHEN)]
    # Another order of rows, and of the keys inside each item's inputs.
    shuffled = [replace(r, inputs=dict(reversed(r.inputs.items()))) for r in ROWS]
    random.Random(3).shuffle(shuffled)
    second = [p.read_bytes() for p in write_index(tmp_path / "b", "b", shuffled, generated_at=WHEN)]
    assert first == second


def test_the_index_files_replace_older_ones_and_leave_no_temp_files(tmp_path):
    write_index(tmp_path, "b", ROWS, generated_at=WHEN)
    json_path, csv_path = write_index(tmp_path, "b", [AXE], generated_at=WHEN)
    assert sorted(os.listdir(tmp_path)) == ["index.csv", "index.json"]
    assert [r["file"] for r in read_csv(csv_path)] == ["axe.png"]
    assert len(json.loads(json_path.read_text())["items"]) == 1


def test_generated_at_defaults_to_now_in_utc(tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    json_path, _ = write_index(tmp_path / "new", "b", [AXE])
    stamp = json.loads(json_path.read_text())["generated_at"]
    assert stamp.endswith("Z")
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= before


def test_an_empty_batch_still_gets_an_index(tmp_path):
    json_path, csv_path = write_index(tmp_path, "b", [], generated_at=WHEN)
    assert json.loads(json_path.read_text())["items"] == []
    assert csv_path.read_text().splitlines() == [",".join(CSV_COLUMNS)]


@pytest.mark.parametrize(
    "rows, says",
    [
        ([AXE, replace(AXE, item="other")], "more than one"),
        ([knight(1), replace(knight(2), prompt="another prompt")], "disagree"),
        ([knight(1), replace(knight(2), scenario_job_id="job_other")], "disagree"),
    ],
    ids=["a file twice", "an item with two prompts", "an item with two jobs"],
)
def test_rows_that_would_make_an_ambiguous_index_are_refused_and_nothing_is_written(tmp_path, rows, says):
    with pytest.raises(ValueError, match=says):
        write_index(tmp_path, "b", rows, generated_at=WHEN)
    assert os.listdir(tmp_path) == []


def test_csv_text_is_plain_utf8_without_a_byte_order_mark(tmp_path):
    row = replace(AXE, prompt="épée de fer, 剣")
    _, csv_path = write_index(tmp_path, "b", [row], generated_at=WHEN)
    raw = csv_path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))[0]["prompt"] == "épée de fer, 剣"


THEME = replace(
    AXE, item="theme", asset_id="asset_wav", file="theme.wav", width=None, height=None, mime_type="audio/wav"
)


def test_the_index_lists_each_files_mime_type_and_no_size_for_a_non_image(tmp_path):
    json_path, csv_path = write_index(tmp_path, "b", [AXE, THEME], generated_at=WHEN)
    files = {f["file"]: f for item in json.loads(json_path.read_text())["items"] for f in item["files"]}
    assert (files["axe.png"]["mime_type"], files["axe.png"]["width"]) == ("image/png", 512)
    assert (files["theme.wav"]["mime_type"], files["theme.wav"]["width"], files["theme.wav"]["height"]) == (
        "audio/wav",
        None,
        None,
    )
    rows = {r["file"]: r for r in read_csv(csv_path)}
    assert (rows["theme.wav"]["mime_type"], rows["theme.wav"]["width"], rows["theme.wav"]["height"]) == (
        "audio/wav",
        "",
        "",
    )
    assert rows["axe.png"]["mime_type"] == "image/png"


def test_a_file_in_two_rows_is_a_one_line_error_naming_both_items(tmp_path):
    with pytest.raises(AmbiguousIndex) as caught:
        write_index(tmp_path, "b", [AXE, replace(AXE, item="axe-v2")], generated_at=WHEN)
    assert (
        str(caught.value)
        == "file 'axe.png' appears in more than one index row (items 'axe' and 'axe-v2'); no index written"
    )


def full_disk_on(name: str):
    """A writer that fails like a full disk when it comes to `name`, and writes anything else."""

    def writer(path, data):
        if name in path.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        write_atomically(path, data)

    return writer


@pytest.mark.parametrize("failing", ["index.json", "index.csv"])
def test_a_full_disk_leaves_the_previous_index_whole_and_says_so(tmp_path, failing):
    write_index(tmp_path, "b", ROWS, generated_at=WHEN)
    before = {name: (tmp_path / name).read_bytes() for name in sorted(os.listdir(tmp_path))}
    with pytest.raises(NoSpaceForIndex, match="no space left") as caught:
        write_index(tmp_path, "b", [AXE], generated_at=WHEN, writer=full_disk_on(failing))
    assert "\n" not in str(caught.value)
    assert {name: (tmp_path / name).read_bytes() for name in sorted(os.listdir(tmp_path))} == before


def test_another_write_failure_is_an_index_not_written_error_and_leaves_nothing_behind(tmp_path):
    def refusing(path, data):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    with pytest.raises(IndexNotWritten, match="Permission denied") as caught:
        write_index(tmp_path, "b", ROWS, generated_at=WHEN, writer=refusing)
    assert not isinstance(caught.value, NoSpaceForIndex)
    assert os.listdir(tmp_path) == []
