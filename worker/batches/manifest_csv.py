"""Reading a flat CSV manifest into a table of typed cells; judging them is the manifest's job."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

TAG_SEPARATOR = ";"
# Cells in these columns are numbers; anything that does not read as one is passed on
# as text so that the generation rules can say what is wrong with it.
NUMERIC_COLUMNS = frozenset({"width", "height", "samples", "guidance", "steps", "seed"})


@dataclass(frozen=True)
class CsvRow:
    """One data row: its first line in the file, its non-empty cells, and cells past the header."""

    line: int
    values: dict[str, Any]
    extra_cells: int = 0


@dataclass
class CsvTable:
    """A CSV manifest split into its header and rows, or the reason it could not be read."""

    header: list[str] = field(default_factory=list)
    header_line: int = 1
    rows: list[CsvRow] = field(default_factory=list)
    error: tuple[int, str] | None = None


def read_csv(text: str) -> CsvTable:
    """Split CSV text into a header and rows of typed cells, with each row's line number."""
    table = CsvTable()
    # skipinitialspace: hand-written files often say "name, prompt".
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True)
    last_line = 0
    try:
        for cells in reader:
            start, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if not table.header:
                table.header = [cell.strip() for cell in cells]
                table.header_line = start
                continue
            table.rows.append(_row(table.header, cells, start))
    except csv.Error as exc:
        # The record's first line is where an unclosed quote was opened.
        table.error = (last_line + 1, f"not valid CSV in the row starting here: {exc}")
    return table


def _row(header: list[str], cells: list[str], line: int) -> CsvRow:
    values = {column: _cell(column, cell.strip()) for column, cell in zip(header, cells, strict=False) if cell.strip()}
    return CsvRow(line=line, values=values, extra_cells=max(0, len(cells) - len(header)))


def _cell(column: str, text: str) -> Any:
    if column == "tags":
        return [tag.strip() for tag in text.split(TAG_SEPARATOR) if tag.strip()]
    if column in NUMERIC_COLUMNS:
        for number in (int, float):
            try:
                return number(text)
            except ValueError:
                pass
    return text
