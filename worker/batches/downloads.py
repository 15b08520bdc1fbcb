"""Downloading a finished item's outputs into a folder, checked and written so no half file is ever seen.

Every failure leaves as a `DownloadError` naming the item and asset; its
`cause` is the underlying error and `retryable` says whether trying later can
help (a dropped connection can, a corrupt image cannot).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.batches.images import NotAnImage
from worker.batches.media import EXTENSIONS, NotTheMedia, check_asset, extension_for, normal_type
from worker.scenario.client import ScenarioClient
from worker.scenario.errors import Forbidden, ScenarioError

if TYPE_CHECKING:
    from worker.db.views import JobView

SUCCESS = "success"


class DownloadError(Exception):
    """An item's file could not be fetched, checked or written."""

    def __init__(
        self,
        item_name: str | None,
        asset_id: str | None,
        cause: BaseException | str,
        *,
        retryable: bool | None = None,
    ) -> None:
        self.item_name = item_name
        self.asset_id = asset_id
        self.cause = cause
        if retryable is None:
            retryable = isinstance(cause, ScenarioError) and cause.retryable
        self.retryable = retryable
        where = [f"item {item_name!r}"] if item_name is not None else []
        where += [f"asset {asset_id!r}"] if asset_id is not None else []
        super().__init__(": ".join([*where, str(cause)]))

    def __reduce__(self) -> tuple[Any, ...]:  # keep the fields when a task queue pickles the error
        return (_rebuild, (self.item_name, self.asset_id, self.cause, self.retryable))


def _rebuild(item_name: str | None, asset_id: str | None, cause: BaseException | str, retryable: bool) -> DownloadError:
    return DownloadError(item_name, asset_id, cause, retryable=retryable)


@dataclass(frozen=True)
class FileRecord:
    """One file on disk: its name inside the out dir, where it came from, and what it holds.

    `width` and `height` are None for anything but an image.
    """

    file: str
    asset_id: str
    bytes: int
    sha256: str
    width: int | None
    height: int | None
    mime_type: str


@dataclass(frozen=True)
class AssetInfo:
    """What the bulk lookup says of one asset: where to fetch it, what type it is, what Scenario measured."""

    url: str
    mime_type: str
    properties: Mapping[str, Any] = field(default_factory=dict)


def file_names(item_name: str, count: int, ext: str = "png") -> list[str]:
    """`NAME.ext` for one file; `NAME_1.ext` .. `NAME_n.ext` for several."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if count == 1:
        return [f"{item_name}.{ext}"]
    return [f"{item_name}_{i}.{ext}" for i in range(1, count + 1)]


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one."""
    path = Path(path)
    # Same folder: os.replace is only atomic within one filesystem. The dot keeps it out of `*.png`.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    # The rename is only durable once the folder itself is flushed; not every OS allows this.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def resolve_assets(client: ScenarioClient, asset_ids: Sequence[str]) -> dict[str, AssetInfo]:
    """Asset id -> fresh signed URL, MIME type and properties, from as few bulk calls as Scenario allows."""
    ids = list(dict.fromkeys(asset_ids))
    if not ids:
        return {}
    try:
        assets = client.get_assets(ids)
    except ScenarioError as exc:
        raise DownloadError(None, None, exc) from exc
    by_id = {asset["id"]: asset for asset in assets}
    found: dict[str, AssetInfo] = {}
    for asset_id in ids:
        asset = by_id.get(asset_id)
        if asset is None:
            raise DownloadError(None, asset_id, "Scenario did not return this asset")
        found[asset_id] = _info_of(asset, None)
    return found


def _info_of(asset: Mapping[str, Any], item_name: str | None) -> AssetInfo:
    asset_id = asset.get("id")
    status = asset.get("status")
    if status != SUCCESS:
        # A pending asset may still finish; an error one never will.
        raise DownloadError(
            item_name, asset_id, f"asset status is {status!r}, not {SUCCESS!r}", retryable=status == "pending"
        )
    url = asset.get("url")
    if not isinstance(url, str) or not url:
        raise DownloadError(item_name, asset_id, "Scenario gave no download URL for this asset")
    mime_type = asset.get("mimeType")
    if not isinstance(mime_type, str) or "/" not in mime_type:
        raise DownloadError(item_name, asset_id, f"Scenario gave no usable mimeType for this asset ({mime_type!r})")
    properties = asset.get("properties")
    return AssetInfo(url, normal_type(mime_type), properties if isinstance(properties, Mapping) else {})


def download_item(
    client: ScenarioClient,
    *,
    item_name: str,
    asset_ids: Sequence[str],
    out_dir: Path,
    assets: Mapping[str, AssetInfo] | None = None,
    expected_size: tuple[int, int] | None = None,
    recorded: Sequence[Mapping[str, Any]] = (),
) -> list[FileRecord]:
    """Each asset of one item as a checked file in `out_dir`, named for its type.

    `recorded` holds the file records stored for this item so far (any of its
    jobs): a file already on disk is kept only when a record for its asset has
    the same sha256 as its bytes. Once every file is in place, files recorded for
    the item that it no longer has are removed, if they still hold the recorded bytes.
    """
    if isinstance(asset_ids, str) or not asset_ids:
        raise DownloadError(item_name, None, "the item has no asset ids to download")
    out_dir = Path(out_dir)
    count = len(asset_ids)
    for name in file_names(item_name, count):  # refuse a name that leaves the folder before any request
        _target(out_dir, name, item_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    records: dict[int, FileRecord] = {}
    for index, asset_id in enumerate(asset_ids):
        kept = _existing(out_dir, item_name, count, index, asset_id, recorded)
        if kept is not None:
            records[index] = kept
    missing = [asset_ids[i] for i in range(count) if i not in records]
    known = dict(assets or {})
    unknown = [asset_id for asset_id in missing if asset_id not in known]
    if unknown:
        try:
            known.update(resolve_assets(client, unknown))
        except DownloadError as exc:
            raise DownloadError(item_name, exc.asset_id, exc.cause, retryable=exc.retryable) from exc
    for index, asset_id in enumerate(asset_ids):
        if index not in records:
            info = known[asset_id]
            target = _target(out_dir, file_names(item_name, count, extension_for(info.mime_type))[index], item_name)
            data = _fetch(client, item_name, asset_id, info.url)
            records[index] = _store(target, asset_id, data, item_name, info, expected_size)
    result = [records[i] for i in range(count)]
    _remove_replaced(out_dir, {r.file for r in result}, recorded)
    return result


def _target(out_dir: Path, name: str, item_name: str) -> Path:
    """`out_dir / name`, refused unless it lands directly inside out_dir (no separators, no symlink out)."""
    target = out_dir / name
    if not _plain(name) or target.resolve().parent != out_dir.resolve():
        raise DownloadError(item_name, None, f"refusing to write {name!r}: it is not a plain file name in {out_dir}")
    return target


def _plain(name: Any) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name and "\\" not in name


def _existing(
    out_dir: Path, item_name: str, count: int, index: int, asset_id: str, recorded: Sequence[Mapping[str, Any]]
) -> FileRecord | None:
    """The record of the file on disk for this asset when a stored record vouches for its bytes, else None."""
    for record in recorded:
        name = record.get("file")
        if record.get("asset_id") != asset_id or not _plain(name):
            continue
        ext = Path(name).suffix.removeprefix(".")
        # The record must name the file this item would write for this asset now (the item may be renamed).
        if not ext or file_names(item_name, count, ext)[index] != name:
            continue
        data = _read(out_dir / name)
        if data is not None and hashlib.sha256(data).hexdigest() == record.get("sha256"):
            width, height = record.get("width"), record.get("height")
            mime_type = record.get("mime_type") or _type_of_extension(ext)
            return _record(name, asset_id, data, mime_type, (width, height) if width and height else None)
    return None


def _type_of_extension(ext: str) -> str:
    # Records from before files carried their type: the extension is all there is to go on.
    return next((kind for kind, known in EXTENSIONS.items() if known == ext), "application/octet-stream")


def _read(path: Path) -> bytes | None:
    try:
        return None if path.is_symlink() else path.read_bytes()
    except OSError:
        return None


def _remove_replaced(out_dir: Path, current: set[str], recorded: Sequence[Mapping[str, Any]]) -> None:
    """Remove files recorded for the item that it no longer has, but only while they hold the recorded bytes.

    A file whose bytes changed since is no longer this item's (another item may
    have written it), so it is left alone.
    """
    for record in recorded:
        name = record.get("file")
        if not _plain(name) or name in current:
            continue
        path = out_dir / name
        data = _read(path)
        if data is not None and hashlib.sha256(data).hexdigest() == record.get("sha256"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _fetch(client: ScenarioClient, item_name: str, asset_id: str, url: str) -> bytes:
    """The asset's bytes; on a 403 (an expired signed URL) its URL is resolved again, once."""
    try:
        return client.download(url)
    except Forbidden:
        pass
    except ScenarioError as exc:
        raise DownloadError(item_name, asset_id, exc) from exc
    try:
        fresh = _info_of(client.get_asset(asset_id), item_name)
        return client.download(fresh.url)
    except Forbidden as exc:
        raise DownloadError(item_name, asset_id, f"download still forbidden with a fresh URL: {exc}") from exc
    except ScenarioError as exc:
        raise DownloadError(item_name, asset_id, exc) from exc


def _store(
    target: Path, asset_id: str, data: bytes, item_name: str, info: AssetInfo, expected_size: tuple[int, int] | None
) -> FileRecord:
    try:
        size = check_asset(data, info.mime_type, info.properties, expected_size)
    except (NotAnImage, NotTheMedia) as exc:
        raise DownloadError(item_name, asset_id, exc, retryable=False) from exc
    try:
        write_atomically(target, data)
    except OSError as exc:
        raise DownloadError(item_name, asset_id, exc) from exc
    return _record(target.name, asset_id, data, normal_type(info.mime_type), size)


def _record(name: str, asset_id: str, data: bytes, mime_type: str, size: tuple[int, int] | None) -> FileRecord:
    return FileRecord(
        file=name,
        asset_id=asset_id,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=size[0] if size else None,
        height=size[1] if size else None,
        mime_type=mime_type,
    )


@dataclass(frozen=True)
class ItemAssets:
    """What one item needs fetched: its name (the file name), its assets, their size, and its recorded files."""

    name: str
    asset_ids: Sequence[str]
    size: tuple[int, int] | None = None
    recorded: Sequence[Mapping[str, Any]] = ()


def job_assets(job: JobView, history: Sequence[JobView] = ()) -> ItemAssets:
    """What a batch job's download needs; `history` is the batch's jobs, whose files recorded for the item count."""
    name = job.item_name or job.id
    recorded = [f for other in (*history, job) if (other.item_name or other.id) == name for f in other.files or ()]
    return ItemAssets(name, job.asset_ids, (job.params.get("width"), job.params.get("height")), recorded)


def download_items(
    client: ScenarioClient, items: Sequence[ItemAssets], out_dir: Path
) -> Iterator[tuple[ItemAssets, list[FileRecord] | DownloadError]]:
    """Each item's files in `out_dir`, one result per item: its files, or why they could not be had.

    The assets of every item are resolved in one bulk lookup just before the
    downloads; if one asset spoils that lookup, each item resolves its own.
    """
    try:
        assets: dict[str, AssetInfo] | None = resolve_assets(client, [a for item in items for a in item.asset_ids])
    except DownloadError:
        assets = None
    for item in items:
        try:
            yield (
                item,
                download_item(
                    client,
                    item_name=item.name,
                    asset_ids=item.asset_ids,
                    out_dir=out_dir,
                    assets=assets,
                    expected_size=item.size,
                    recorded=item.recorded,
                ),
            )
        except DownloadError as exc:
            yield item, exc
