"""The library's index: what each image file in a batch's folder is and where it came from.

Two files are written beside the images, each atomically:

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
          "files": [
            {"file": "knight-pose_1.png", "asset_id": "asset_...", "bytes": 1234,
             "sha256": "<hex>", "width": 512, "height": 768},
            ...
          ]
        },
        ...
      ]
    }

One object per item, so a pipeline finds an item's images by name in one step;
`file` is relative to the folder holding the index.

index.csv, for spreadsheets and shell tools: one row per file, columns
`item,prompt,inputs,scenario_job_id,asset_id,file,bytes,sha256,width,height,tags`;
`inputs` is compact JSON with sorted keys, `tags` are joined by `;` (a tag that
itself holds `;` is only exact in index.json), an unknown job id is empty.

Items are sorted by name and an item's files by their number (`_2` before
`_10`), so the same rows always give the same files, bar `generated_at`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from worker.batches.downloads import write_atomically

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
)
_FILE_FIELDS = ("file", "asset_id", "bytes", "sha256", "width", "height")
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class IndexRow:
    """One image file of a batch and the generation it came from."""

    item: str
    prompt: str
    inputs: dict[str, Any]
    scenario_job_id: str | None
    asset_id: str
    file: str
    bytes: int
    sha256: str
    width: int
    height: int
    tags: tuple[str, ...] = ()


def write_index(
    out_dir: Path, batch_name: str, rows: Sequence[IndexRow], *, generated_at: datetime | None = None
) -> tuple[Path, Path]:
    """Write index.json and index.csv into `out_dir`; their paths, JSON first."""
    ordered = sorted(rows, key=_order)
    _check(ordered)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = _iso(generated_at or datetime.now(timezone.utc))
    json_path, csv_path = out_dir / JSON_NAME, out_dir / CSV_NAME
    write_atomically(json_path, index_json(batch_name, ordered, stamp).encode("utf-8"))
    write_atomically(csv_path, index_csv(ordered).encode("utf-8"))
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
                row.width,
                row.height,
                ";".join(row.tags),
            ]
        )
    return buffer.getvalue()


def _order(row: IndexRow) -> tuple[str, list[tuple[int, Any]]]:
    # Digit runs compare as numbers, so NAME_2.png comes before NAME_10.png.
    parts = _DIGITS.split(row.file)
    return row.item, [(1, int(p)) if p.isdigit() else (0, p) for p in parts]


def _check(rows: Sequence[IndexRow]) -> None:
    """Refuse rows that would make an ambiguous index: a file twice, or one item described two ways."""
    seen_files: set[str] = set()
    first_of_item: dict[str, IndexRow] = {}
    for row in rows:
        if row.file in seen_files:
            raise ValueError(f"file {row.file!r} appears in more than one index row")
        seen_files.add(row.file)
        first = first_of_item.setdefault(row.item, row)
        if (first.prompt, _compact(first.inputs), first.scenario_job_id, first.tags) != (
            row.prompt,
            _compact(row.inputs),
            row.scenario_job_id,
            row.tags,
        ):
            raise ValueError(f"item {row.item!r} has rows that disagree on prompt, inputs, job id or tags")


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _iso(when: datetime) -> str:
    """UTC with milliseconds and `Z`, as Scenario writes its dates; a naive time is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    utc = when.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
