"""The library's index: what each file in a batch's folder is and where it came from.

Two files are written beside the files, together: both are staged in full
before either replaces the old one, so a failed write (a full disk) leaves the
previous index as it was.

index.json, for programs (UTF-8)::

    {
      "version": 1,
      "batch": "fantasy-item-icons",
      "generated_at": "2025-06-20T15:30:05.356Z",
      "items": [
        {
          "item": "knight-pose",
          "prompt": "a knight standing guard",
          "inputs": {"modelId": "flux.1-schnell", "width": 512, ...},
          "scenario_job_id": "job_...",            (null when unknown)
          "tags": ["hero"],
          "cu_spent": 12.0,                        (creative units the item cost; null when unknown)
          "files": [
            {"file": "knight-pose_1.png", "asset_id": "asset_...", "bytes": 1234,
             "sha256": "<hex>", "width": 512, "height": 768, "mime_type": "image/png"},
            ...
          ]
        },
        ...
      ]
    }

One object per item, so a pipeline finds an item's files by name in one step;
`file` is relative to the folder holding the index; `width` and `height` are
null for anything but an image (audio, video, 3D).

index.csv, for spreadsheets and shell tools: one row per file, columns
`item,prompt,inputs,scenario_job_id,asset_id,file,bytes,sha256,width,height,tags,mime_type,cu_spent`;
`inputs` is compact JSON with sorted keys, `tags` are joined by `;` (a tag that
itself holds `;` is only exact in index.json), an unknown job id and the width
and height of a non-image are empty. `mime_type` and `cu_spent` (the item's
creative units, on each of its rows) come last so readers of the older columns
by position keep working.

Items are sorted by name and an item's files by their number (`_2` before
`_10`), so the same rows always give the same files, bar `generated_at`.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from worker.batches.downloads import write_atomically
from worker.errors import WorkerError

INDEX_VERSION = 1
JSON_NAME = "index.json"
CSV_NAME = "index.csv"
CSV_COLUMNS = (
    "item",
    "prompt",
    "inputs",
    "scenario_job_id",
    "asset_id",
    "file",
    "bytes",
    "sha256",
    "width",
    "height",
    "tags",
    "mime_type",
    "cu_spent",
)
_FILE_FIELDS = ("file", "asset_id", "bytes", "sha256", "width", "height", "mime_type")
_DIGITS = re.compile(r"(\d+)")


class IndexNotWritten(WorkerError):
    """The index could not be written; any previous index is left as it was."""


class AmbiguousIndex(IndexNotWritten, ValueError):
    """The rows would make an ambiguous index: a file listed twice, or one item described two ways."""


class NoSpaceForIndex(IndexNotWritten):
    """The disk is full; the previous index is left as it was."""


@dataclass(frozen=True)
class IndexRow:
    """One file of a batch and the generation it came from; width and height are None for a non-image."""

    item: str
    prompt: str
    inputs: dict[str, Any]
    scenario_job_id: str | None
    asset_id: str
    file: str
    bytes: int
    sha256: str
    width: int | None
    height: int | None
    tags: tuple[str, ...] = ()
    mime_type: str = "image/png"
    cu_spent: float | None = None


def write_index(
    out_dir: Path,
    batch_name: str,
    rows: Sequence[IndexRow],
    *,
    generated_at: datetime | None = None,
    writer: Callable[[Path, bytes], None] = write_atomically,
) -> tuple[Path, Path]:
    """Write index.json and index.csv into `out_dir`; their paths, JSON first.

    Both are written in full under staging names by `writer` first, then renamed
    over the old ones; any failure before the renames leaves the old index whole
    and raises `IndexNotWritten` (`NoSpaceForIndex` for a full disk).
    """
    ordered = sorted(rows, key=_order)
    _check(ordered)
    out_dir = Path(out_dir)
    stamp = _iso(generated_at or datetime.now(timezone.utc))
    json_path, csv_path = out_dir / JSON_NAME, out_dir / CSV_NAME
    contents = [
        (json_path, index_json(batch_name, ordered, stamp).encode("utf-8")),
        (csv_path, index_csv(ordered).encode("utf-8")),
    ]
    token = secrets.token_hex(6)
    staged: list[tuple[Path, Path]] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for final, data in contents:
            # The dot keeps a staged file out of globs over the folder.
            stage = final.with_name(f".{final.name}.{token}.staged")
            staged.append((stage, final))
            writer(stage, data)
        for stage, final in staged:
            os.replace(stage, final)
    except OSError as exc:
        for stage, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(stage)
        if exc.errno == errno.ENOSPC:
            raise NoSpaceForIndex(
                f"no space left on the device for the index in {out_dir}; the old index is kept"
            ) from exc
        raise IndexNotWritten(
            f"could not write the index in {out_dir} ({exc.strerror or exc}); the old index is kept"
        ) from exc
    return json_path, csv_path


def index_json(batch_name: str, rows: Sequence[IndexRow], generated_at: str) -> str:
    """The index.json text for rows already in index order."""
    items: list[dict[str, Any]] = []
    for row in rows:
        if not items or items[-1]["item"] != row.item:
            items.append(
                {
                    "item": row.item,
                    "prompt": row.prompt,
                    "inputs": json.loads(_compact(row.inputs)),  # keys sorted at every depth
                    "scenario_job_id": row.scenario_job_id,
                    "tags": list(row.tags),
                    "cu_spent": row.cu_spent,
                    "files": [],
                }
            )
        items[-1]["files"].append({name: getattr(row, name) for name in _FILE_FIELDS})
    document = {"version": INDEX_VERSION, "batch": batch_name, "generated_at": generated_at, "items": items}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def index_csv(rows: Sequence[IndexRow]) -> str:
    """The index.csv text for rows already in index order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.item,
                row.prompt,
                _compact(row.inputs),
                row.scenario_job_id or "",
                row.asset_id,
                row.file,
                row.bytes,
                row.sha256,
                "" if row.width is None else row.width,
                "" if row.height is None else row.height,
                ";".join(row.tags),
                row.mime_type,
                "" if row.cu_spent is None else f"{row.cu_spent:g}",
            ]
        )
    return buffer.getvalue()


def _order(row: IndexRow) -> tuple[str, list[tuple[int, Any]]]:
    # Digit runs compare as numbers, so NAME_2.png comes before NAME_10.png.
    parts = _DIGITS.split(row.file)
    return row.item, [(1, int(p)) if p.isdigit() else (0, p) for p in parts]


def _check(rows: Sequence[IndexRow]) -> None:
    """Refuse rows that would make an ambiguous index: a file twice, or one item described two ways."""
    seen_files: dict[str, str] = {}
    first_of_item: dict[str, IndexRow] = {}
    for row in rows:
        if row.file in seen_files:
            other = seen_files[row.file]
            owners = f"item {row.item!r}" if other == row.item else f"items {other!r} and {row.item!r}"
            raise AmbiguousIndex(f"file {row.file!r} appears in more than one index row ({owners}); no index written")
        seen_files[row.file] = row.item
        first = first_of_item.setdefault(row.item, row)
        if (first.prompt, _compact(first.inputs), first.scenario_job_id, first.tags) != (
            row.prompt,
            _compact(row.inputs),
            row.scenario_job_id,
            row.tags,
        ):
            raise AmbiguousIndex(
                f"item {row.item!r} has rows that disagree on prompt, inputs, job id or tags; no index written"
            )


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _iso(when: datetime) -> str:
    """UTC with milliseconds and `Z`, as Scenario writes its dates; a naive time is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    utc = when.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
