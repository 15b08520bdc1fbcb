"""A batch manifest: many generations in one YAML or CSV file, checked as a whole before any runs."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from worker.batches.downloads import file_names
from worker.batches.manifest_csv import CsvTable, read_csv
from worker.batches.manifest_yaml import INVALID, line_of, read_yaml
from worker.generation import GenerationRequest
from worker.options import DEFAULT_PRIORITY, JobOptions

MAX_ITEMS = 100_000
MAX_MANIFEST_BYTES = 64 * 1024 * 1024

# Manifest key -> GenerationRequest field; the short names read better in a hand-written file.
PARAMETERS = {
    "model": "model_id",
    "width": "width",
    "height": "height",
    "samples": "num_samples",
    "guidance": "guidance",
    "steps": "num_inference_steps",
    "negative_prompt": "negative_prompt",
    "seed": "seed",
}
_FIELDS = {"prompt": "prompt", **PARAMETERS}
_KEY_OF_FIELD = {field: key for key, field in _FIELDS.items()}
TOP_KEYS = ("batch", "budget_cu", "defaults", "items")
# `priority` and `metadata` are the item's job options (worker.options.JobOptions), not model inputs.
ITEM_KEYS = ("name", "prompt", "tags", "priority", "metadata", *PARAMETERS)
# Spellings people carry over from the API or the Python names: the same field as the short key.
_ALIASES = {
    "model_id": "model",
    "modelId": "model",
    "num_samples": "samples",
    "numSamples": "samples",
    "num_inference_steps": "steps",
    "numInferenceSteps": "steps",
    "negativePrompt": "negative_prompt",
}
# Any other input of the model may be a key too, in snake_case or camelCase, or go under `inputs:`
# (for an input whose name is taken here, such as a model's own `tags`).
INPUTS_KEY = "inputs"
_INPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
# A key this close to a known one is taken for a typo of it rather than a model input.
_TYPO_CUTOFF = 0.75

_BATCH_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ITEM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest, located as precisely as the file allows."""

    line: int | None
    item: str | None
    field: str | None
    message: str

    def render(self, source: str) -> str:
        """The problem as `source:LINE: item 'NAME': FIELD: message`, unknown parts left out."""
        parts = [source if self.line is None else f"{source}:{self.line}"]
        if self.item is not None:
            parts.append(f"item '{self.item}'")
        if self.field is not None:
            parts.append(self.field)
        return ": ".join([*parts, self.message])


class ManifestError(ValueError):
    """A manifest that cannot be run, with every problem found in it."""

    def __init__(self, problems: Iterable[Problem], source: str = "<manifest>") -> None:
        self.problems = sorted(problems, key=lambda p: p.line or 0)
        self.source = source
        super().__init__("\n".join(p.render(source) for p in self.problems))


@dataclass(frozen=True)
class ManifestItem:
    """One generation of a batch: a file name, what to ask Scenario for, free-form tags, and its
    job options (a priority among the batch's waiters, metadata kept on its job row)."""

    name: str
    request: GenerationRequest
    tags: tuple[str, ...]
    line: int
    priority: int = DEFAULT_PRIORITY
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def key(self, batch_name: str) -> str:
        """A stable key for this item: it changes when anything asked of Scenario changes, not tags."""
        canonical = {"batch": batch_name, "name": self.name, "params": _key_params(self.request)}
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Manifest:
    """A checked batch: its name, its items in file order, and where it was read from."""

    name: str
    items: tuple[ManifestItem, ...]
    source: str
    # The most the batch may spend, in creative units (None: no budget of its own).
    budget_cu: float | None = None


def load_manifest(
    path: str | Path,
    *,
    batch_name: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    budget_cu: float | None = None,
) -> Manifest:
    """Read and check a .yaml, .yml or .csv manifest; a CSV batch is named after its file unless told."""
    path, source = Path(path), str(path)
    kinds: dict[str, Literal["yaml", "csv"]] = {".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}
    kind = kinds.get(path.suffix.lower())
    if kind is None:
        raise _error(f"unknown manifest type {path.suffix!r}; use .yaml, .yml or .csv", source)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise _error(f"is larger than {MAX_MANIFEST_BYTES} bytes; split it into several batches", source)
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise _error(f"cannot be read: {exc.strerror or exc}", source) from exc
    except UnicodeDecodeError as exc:
        raise _error(f"is not UTF-8 text (byte {exc.start} cannot be decoded)", source) from exc
    return parse_manifest(text, kind=kind, source=source, batch_name=batch_name, defaults=defaults, budget_cu=budget_cu)


def parse_manifest(
    text: str,
    *,
    kind: Literal["yaml", "csv"],
    source: str = "<manifest>",
    batch_name: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    budget_cu: float | None = None,
) -> Manifest:
    """Check manifest text as a whole; raise ManifestError listing every problem found.

    `batch_name` wins over the file's own; `defaults` (manifest key names) win over the
    file's defaults, and each item's own values win over both; `budget_cu` over the file's.
    """
    if len(text) > MAX_MANIFEST_BYTES:
        raise _error(f"is larger than {MAX_MANIFEST_BYTES} characters; split it into several batches", source)
    text = text.removeprefix("\ufeff")
    check = _Check()
    if kind == "yaml":
        document = _load_yaml(text, check)
        name, items = check.yaml_document(document, batch_name, defaults or {})
        if budget_cu is None and isinstance(document, Mapping) and "budget_cu" in document:
            budget_cu = check.budget(document["budget_cu"], line_of(document, "budget_cu", None))
    elif kind == "csv":
        stem = Path(source).stem if source != "<manifest>" else None
        name, items = check.csv_table(read_csv(text), batch_name, stem, defaults or {})
    else:
        raise ValueError(f"kind: must be 'yaml' or 'csv', got {kind!r}")
    if budget_cu is not None:
        budget_cu = check.budget(budget_cu, None)
    if check.problems:
        raise ManifestError(check.problems, source)
    return Manifest(name=name, items=tuple(items), source=source, budget_cu=budget_cu)


def _error(message: str, source: str) -> ManifestError:
    return ManifestError([Problem(None, None, None, message)], source)


def _load_yaml(text: str, check: _Check) -> Any:
    data, problem = read_yaml(text)
    if problem is not None:
        check.add(problem[0], None, None, problem[1])
    return data


class _Check:
    """Turns a parsed manifest into items, collecting every problem instead of stopping at one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, line: int | None, item: str | None, field: str | None, message: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(line, item, field, message))

    def yaml_document(
        self, data: Any, batch_name: str | None, caller_defaults: Mapping[str, Any]
    ) -> tuple[str, list[ManifestItem]]:
        """Check a whole YAML document: batch name, defaults and every item."""
        if data is INVALID:
            return "", []
        if not isinstance(data, Mapping):
            what = "empty" if data is None else f"a {_kind(data)}"
            self.add(None, None, None, f"the manifest is {what}; it must be a mapping with 'batch' and 'items'")
            return "", []
        self.keys(data, TOP_KEYS, None, None, inputs=False)
        if batch_name is None:
            name = self.batch(data.get("batch"), line_of(data, "batch", None), "")
        else:
            name = self.batch(batch_name, None, " (given by the caller)")
        defaults = self.defaults(data.get("defaults"), line_of(data, "defaults", None), caller_defaults)
        items, line = data.get("items"), line_of(data, "items", None)
        if not self.item_list(items, line):
            return name, []
        entries = []
        for index, entry in enumerate(items):
            if isinstance(entry, Mapping):
                entries.append((entry, entry.line))
            else:
                where = items.lines[index]
                message = f"item {index + 1} must be a mapping with 'name' and 'prompt', not a {_kind(entry)}"
                self.add(where, None, None, message)
        return name, self.items(entries, defaults)

    def csv_table(
        self, table: CsvTable, batch_name: str | None, stem: str | None, caller_defaults: Mapping[str, Any]
    ) -> tuple[str, list[ManifestItem]]:
        """Check a CSV table: header columns, then every row as an item."""
        if table.error:
            self.add(table.error[0], None, None, table.error[1])
            return "", []
        if batch_name is None:
            name = self.batch(stem, None, " (from the file name)")
        else:
            name = self.batch(batch_name, None, " (given by the caller)")
        defaults = self.default_fields(caller_defaults, None)
        if not table.header:
            self.add(None, None, None, "the file is empty; it needs a header row such as 'name,prompt'")
            return name, []
        line, columns = table.header_line, [column for column in table.header if column]
        for column in dict.fromkeys(columns):
            if column not in ITEM_KEYS and not _is_model_input(column, ITEM_KEYS):
                self.add(line, None, column, _unknown(column, ITEM_KEYS, "column"))
            elif columns.count(column) > 1:
                self.add(line, None, column, "appears more than once in the header; keep one")
        generic = any(_is_model_input(column, ITEM_KEYS) for column in columns)
        missing = [
            column
            for column in ("name", "prompt")
            if column not in columns and not (column, generic) == ("prompt", True)
        ]
        if missing:
            self.add(line, None, None, f"the header has no {' or '.join(map(repr, missing))} column")
        if missing or not self.item_list(table.rows, line):
            return name, []
        entries = []
        for row in table.rows:
            values = {
                key: value for key, value in row.values.items() if key in ITEM_KEYS or _is_model_input(key, ITEM_KEYS)
            }
            if row.extra_cells:
                label = values.get("name")
                self.add(row.line, label, None, f"has {row.extra_cells} more cell(s) than the header has columns")
            entries.append((values, row.line))
        return name, self.items(entries, defaults)

    def batch(self, name: Any, line: int | None, origin: str) -> str:
        """The batch name if it is usable; a problem otherwise."""
        if name is None:
            self.add(line, None, "batch", "is missing; name the batch, e.g. 'batch: fantasy-item-icons'")
            return ""
        problem = _name_problem(name, _BATCH_NAME, "1 to 64 lowercase letters, digits")
        if problem:
            shown = f"'{name}'{origin} " if isinstance(name, str) else ""
            self.add(line, None, "batch", f"{shown}{problem}")
            return ""
        return str(name)

    def budget(self, value: Any, line: int | None) -> float | None:
        """A budget in creative units: a number greater than 0."""
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
        if not ok:
            self.add(line, None, "budget_cu", f"must be a number of creative units greater than 0, got {value!r}")
            return None
        return float(value)

    def item_list(self, items: Any, line: int | None) -> bool:
        """Whether `items` is a non-empty list small enough to run."""
        if items is None:
            self.add(line, None, "items", "is missing; list the generations to run under 'items:'")
        elif not isinstance(items, list):
            self.add(line, None, "items", f"must be a list of items starting with '- name:', not a {_kind(items)}")
        elif not items:
            self.add(line, None, "items", "is empty; list at least one item")
        elif len(items) > MAX_ITEMS:
            self.add(line, None, "items", f"has {len(items)} items; a batch holds at most {MAX_ITEMS}, split it")
        else:
            return True
        return False

    def defaults(self, values: Any, line: int | None, caller: Mapping[str, Any]) -> dict[str, Any]:
        """The valid default fields: the file's, then the caller's on top."""
        fields: dict[str, Any] = {}
        if isinstance(values, Mapping):
            fields.update(self.default_fields(values, line))
        elif values is not None:
            message = f"must be a mapping of parameters such as 'width: 512', not a {_kind(values)}"
            self.add(line, None, "defaults", message)
        fields.update(self.default_fields(caller, None))
        return fields

    def default_fields(self, values: Mapping[Any, Any], line: int | None) -> dict[str, Any]:
        """The valid fields of one set of defaults, which hold parameters only."""
        self.keys(values, (*PARAMETERS, INPUTS_KEY), line, None, "defaults.")
        return self.parameters(values, line, None, "defaults.")

    def parameters(self, values: Mapping[Any, Any], line: int | None, item: str | None, prefix: str) -> dict[str, Any]:
        """The generation fields among `values` that pass on their own; the others as problems."""
        fields: dict[str, Any] = {}
        for key, value in _named_inputs(values):
            problem = _parameter_problem(key, value)
            if problem:
                self.add(line_of(values, key, line), item, f"{prefix}{key}", problem)
            else:
                # 3 and 3.0 ask for the same guidance; one spelling keeps item keys stable.
                fields[_field(key)] = float(value) if key == "guidance" else value
        return fields

    def keys(
        self,
        mapping: Mapping[Any, Any],
        valid: tuple[str, ...],
        line: int | None,
        item: str | None,
        prefix: str = "",
        *,
        inputs: bool = True,
    ) -> None:
        """Report keys that are unknown here (model inputs count as known where `inputs`) or written twice."""
        for key in mapping:
            if key not in valid and not (inputs and _is_model_input(key, valid)):
                self.add(line_of(mapping, key, line), item, f"{prefix}{key}", _unknown(key, valid, "key"))
        for key, again, first in getattr(mapping, "repeated", []):
            self.add(again, item, f"{prefix}{key}", f"is given twice (also on line {first}); keep one")

    def items(self, entries: list[tuple[Mapping[Any, Any], int]], defaults: dict[str, Any]) -> list[ManifestItem]:
        """Check each item and that no two share a file name."""
        built, seen = [], {}
        for entry, line in entries:
            item = self.item(entry, line, defaults)
            name = entry.get("name")
            if isinstance(name, str) and not _item_name_problem(name):
                self.unique(name, line_of(entry, "name", line), seen)
            if item:
                built.append(item)
        self.files_apart(built)
        return built

    def files_apart(self, items: list[ManifestItem]) -> None:
        """Report items whose image files would have the same name (`a_1` beside `a` with 2 samples)."""
        owner: dict[str, ManifestItem] = {}
        for item in items:
            for file in file_names(item.name, item.request.num_samples):
                other = owner.setdefault(file.lower(), item)
                # The same name twice is reported as such already.
                if other is not item and other.name.lower() != item.name.lower():
                    self.add(
                        item.line,
                        item.name,
                        "name",
                        f"writes {file}, as '{other.name}' (line {other.line}) does; rename one of them",
                    )

    def item(self, entry: Mapping[Any, Any], line: int, defaults: dict[str, Any]) -> ManifestItem | None:
        """One item built from the defaults and its own values, or None after recording why not."""
        before, name = len(self.problems), entry.get("name")
        label = name if isinstance(name, str) and name else None
        self.keys(entry, (*ITEM_KEYS, INPUTS_KEY), line, label)
        if name is None:
            self.add(line, None, "name", "is missing; every item needs a unique name, used for its files")
        elif problem := _item_name_problem(name):
            self.add(line_of(entry, "name", line), label, "name", problem)
        if "prompt" not in entry and not any(_is_model_input(k, ITEM_KEYS) for k in (*entry, *defaults)):
            self.add(line, label, "prompt", "is missing; every item needs a prompt")
        tags = self.tags(entry.get("tags"), line_of(entry, "tags", line), label)
        options = self.options(entry, line, label)
        fields = {**defaults, **self.parameters(entry, line, label, "")}
        if len(self.problems) > before or options is None:
            return None
        try:
            request = GenerationRequest(**fields)
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            self.add(line, label, _KEY_OF_FIELD.get(field, field), message)
            return None
        return ManifestItem(
            name=name, request=request, tags=tags, line=line, priority=options.priority, metadata=options.metadata
        )

    def options(self, entry: Mapping[Any, Any], line: int, item: str | None) -> JobOptions | None:
        """The item's job options (priority, metadata), checked as JobOptions checks them."""
        given: dict[str, Any] = {}
        for name in ("priority", "metadata"):
            value = entry.get(name)
            if value is None:
                continue
            if name == "priority" and isinstance(value, str) and value.strip().isdigit():
                value = int(value)  # a CSV cell
            if name == "metadata":
                value = _plain(value)
            given[name] = value
        try:
            return JobOptions(**given)
        except ValueError as exc:
            field_name, _, message = str(exc).removeprefix("options.").partition(": ")
            self.add(line_of(entry, field_name, line), item, field_name, message)
            return None

    def tags(self, value: Any, line: int | None, item: str | None) -> tuple[str, ...]:
        """The item's tags if they are a list of non-empty strings."""
        if value is None:
            return ()
        if not isinstance(value, list):
            self.add(line, item, "tags", f"must be a list of strings such as [weapon, common], not a {_kind(value)}")
            return ()
        for index, tag in enumerate(value, start=1):
            if not isinstance(tag, str) or not tag.strip():
                self.add(line, item, "tags", f"tag {index} must be a non-empty string, not a {_kind(tag)}")
                return ()
        return tuple(value)

    def unique(self, name: str, line: int | None, seen: dict[str, tuple[str, int | None]]) -> None:
        """Record a name, reporting it when an earlier item already writes the same file."""
        earlier = seen.get(name.lower())
        if earlier is None:
            seen[name.lower()] = (name, line)
        elif earlier[0] == name:
            self.add(line, name, "name", f"is used twice, on line {earlier[1]} and line {line}; names must be unique")
        else:
            self.add(
                line,
                name,
                "name",
                f"differs from '{earlier[0]}' (line {earlier[1]}) only in case; "
                "the files would overwrite each other on Windows and macOS",
            )


def _parameter_problem(key: str, value: Any) -> str | None:
    """What GenerationRequest says of this one value on its own, without the field name."""
    if key in _FIELDS and isinstance(value, (Mapping, list, tuple, set)):
        return f"must be a single value, not a {_kind(value)}"
    try:
        GenerationRequest(**{"prompt": "-", _field(key): value})
    except ValueError as exc:
        return str(exc).partition(": ")[2]
    return None


def _field(key: str) -> str:
    """The GenerationRequest argument a manifest key stands for."""
    return _FIELDS.get(_ALIASES.get(key, key), key)


def _named_inputs(values: Mapping[Any, Any]) -> list[tuple[str, Any]]:
    """The keys of `values` that are generation inputs, with those under `inputs:` flattened in."""
    found = [(k, v) for k, v in values.items() if k in _FIELDS or k in _ALIASES or _is_model_input(k, ITEM_KEYS)]
    nested = values.get(INPUTS_KEY)
    if isinstance(nested, Mapping):
        found += [(str(k), v) for k, v in nested.items()]
    return found


def _is_model_input(key: Any, valid: tuple[str, ...]) -> bool:
    """Whether a key that is not one of this manifest's own names is taken as an input of the model."""
    if not isinstance(key, str) or key in valid or key in (*TOP_KEYS, INPUTS_KEY, "name", "tags", "prompt"):
        return False
    if key in _ALIASES or key in _FIELDS:
        return True
    near = difflib.get_close_matches(key, (*_FIELDS, *_ALIASES, *TOP_KEYS, "name", "tags"), n=1, cutoff=_TYPO_CUTOFF)
    return bool(_INPUT_NAME.fullmatch(key)) and not near


def _key_params(request: GenerationRequest) -> dict[str, Any]:
    """What an item's key is made of. Items written before models had schemas always sent these
    three values and an integer seed; keeping them in keeps those items' keys, so a resubmit of
    an old batch recognises what is done instead of paying for it again."""
    params = {"width": 1024, "height": 1024, "numSamples": 1, **request.to_params()}
    seed = params.get("seed")
    if isinstance(seed, str) and seed.isdigit():
        params["seed"] = int(seed)
    return params


def _name_problem(name: Any, pattern: re.Pattern[str], allowed: str) -> str | None:
    if not isinstance(name, str):
        return f"must be text, not a {_kind(name)}; quote it"
    if "/" in name or "\\" in name:
        return "must be a plain file name, not a path"
    if ".." in name:
        return "must not contain '..'"
    if not pattern.fullmatch(name):
        return f"is not allowed; use {allowed}, '.', '_' or '-', starting with a letter or digit"
    if name.endswith("."):
        return "must not end with '.'"
    if name.split(".")[0].lower() in _WINDOWS_RESERVED:
        return "is a reserved device name on Windows; pick another"
    return None


def _plain(value: Any) -> Any:
    """Plain JSON values in place of the YAML reader's located ones, as the job row will keep them."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return value  # JobOptions names what is not JSON


def _item_name_problem(name: Any) -> str | None:
    return _name_problem(name, _ITEM_NAME, "1 to 100 letters, digits")


def _unknown(key: Any, valid: tuple[str, ...], noun: str) -> str:
    if key in ITEM_KEYS and "name" not in valid and "batch" not in valid:
        return "belongs on each item, not in defaults"
    alias = _ALIASES.get(str(key))
    close = [alias] if alias in valid else difflib.get_close_matches(str(key), valid, n=1)
    if close:
        return f"is not a known {noun}; did you mean '{close[0]}'?"
    return f"is not a known {noun}; use {', '.join(valid)}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names = {str: "string", list: "list", dict: "mapping"}
    return next((label for kind, label in names.items() if isinstance(value, kind)), type(value).__name__)
