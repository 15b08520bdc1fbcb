"""Downloading a finished item's images into a folder, checked and written so no half file is ever seen.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.batches.images import NotAnImage, png_size
from worker.scenario.client import ScenarioClient
from worker.scenario.errors import Forbidden, ScenarioError

if TYPE_CHECKING:
    from worker.db.views import JobView

SUCCESS = "success"


class DownloadError(Exception):
    """An item's image could not be fetched, checked or written."""

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
    """One image on disk: its name inside the out dir, where it came from, and what it holds."""

    file: str
    asset_id: str
    bytes: int
    sha256: str
    width: int
    height: int


def file_names(item_name: str, count: int) -> list[str]:
    """`NAME.png` for one image; `NAME_1.png` .. `NAME_n.png` for several."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if count == 1:
        return [f"{item_name}.png"]
    return [f"{item_name}_{i}.png" for i in range(1, count + 1)]


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


def resolve_urls(client: ScenarioClient, asset_ids: Sequence[str]) -> dict[str, str]:
    """Asset id -> fresh signed download URL, from as few bulk calls as Scenario allows."""
    ids = list(dict.fromkeys(asset_ids))
    if not ids:
        return {}
    try:
        assets = client.get_assets(ids)
    except ScenarioError as exc:
        raise DownloadError(None, None, exc) from exc
    by_id = {asset["id"]: asset for asset in assets}
    urls: dict[str, str] = {}
    for asset_id in ids:
        asset = by_id.get(asset_id)
        if asset is None:
            raise DownloadError(None, asset_id, "Scenario did not return this asset")
        urls[asset_id] = _url_of(asset, None)
    return urls


def _url_of(asset: Mapping[str, Any], item_name: str | None) -> str:
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
    return url


def download_item(
    client: ScenarioClient,
    *,
    item_name: str,
    asset_ids: Sequence[str],
    out_dir: Path,
    urls: Mapping[str, str] | None = None,
    expected_size: tuple[int, int] | None = None,
) -> list[FileRecord]:
    """Each asset of one item as a checked PNG in `out_dir`, keeping files already there and valid."""
    if isinstance(asset_ids, str) or not asset_ids:
        raise DownloadError(item_name, None, "the item has no asset ids to download")
    out_dir = Path(out_dir)
    targets = [_target(out_dir, name, item_name) for name in file_names(item_name, len(asset_ids))]
    out_dir.mkdir(parents=True, exist_ok=True)
    records: dict[int, FileRecord] = {}
    for index, (asset_id, target) in enumerate(zip(asset_ids, targets, strict=False)):
        kept = _existing(target, asset_id, expected_size)
        if kept is not None:
            records[index] = kept
    missing = [asset_ids[i] for i in range(len(asset_ids)) if i not in records]
    known = dict(urls or {})
    unknown = [asset_id for asset_id in missing if asset_id not in known]
    if unknown:
        try:
            known.update(resolve_urls(client, unknown))
        except DownloadError as exc:
            raise DownloadError(item_name, exc.asset_id, exc.cause, retryable=exc.retryable) from exc
    for index, (asset_id, target) in enumerate(zip(asset_ids, targets, strict=False)):
        if index not in records:
            data = _fetch(client, item_name, asset_id, known[asset_id])
            records[index] = _store(target, asset_id, data, item_name, expected_size)
    return [records[i] for i in range(len(asset_ids))]


def _target(out_dir: Path, name: str, item_name: str) -> Path:
    """`out_dir / name`, refused unless it lands directly inside out_dir (no separators, no symlink out)."""
    target = out_dir / name
    plain = name not in ("", ".", "..") and Path(name).name == name and "\\" not in name
    if not plain or target.resolve().parent != out_dir.resolve():
        raise DownloadError(item_name, None, f"refusing to write {name!r}: it is not a plain file name in {out_dir}")
    return target


def _existing(target: Path, asset_id: str, expected_size: tuple[int, int] | None) -> FileRecord | None:
    """A record of the file already at `target` when it is a valid PNG of the right size, else None."""
    try:
        data = target.read_bytes()
        size = png_size(data)
    except (OSError, NotAnImage):
        return None
    if expected_size is not None and size != tuple(expected_size):
        return None
    return _record(target.name, asset_id, data, size)


def _fetch(client: ScenarioClient, item_name: str, asset_id: str, url: str) -> bytes:
    """The asset's bytes; on a 403 (an expired signed URL) its URL is resolved again, once."""
    try:
        return client.download(url)
    except Forbidden:
        pass
    except ScenarioError as exc:
        raise DownloadError(item_name, asset_id, exc) from exc
    try:
        fresh = _url_of(client.get_asset(asset_id), item_name)
        return client.download(fresh)
    except Forbidden as exc:
        raise DownloadError(item_name, asset_id, f"download still forbidden with a fresh URL: {exc}") from exc
    except ScenarioError as exc:
        raise DownloadError(item_name, asset_id, exc) from exc


def _store(
    target: Path, asset_id: str, data: bytes, item_name: str, expected_size: tuple[int, int] | None
) -> FileRecord:
    try:
        size = png_size(data)
    except NotAnImage as exc:
        raise DownloadError(item_name, asset_id, exc) from exc
    if expected_size is not None and size != tuple(expected_size):
        want = "x".join(map(str, expected_size))
        raise DownloadError(item_name, asset_id, f"the image is {size[0]}x{size[1]}, not the {want} asked for")
    try:
        write_atomically(target, data)
    except OSError as exc:
        raise DownloadError(item_name, asset_id, exc) from exc
    return _record(target.name, asset_id, data, size)


def _record(name: str, asset_id: str, data: bytes, size: tuple[int, int]) -> FileRecord:
    return FileRecord(
        file=name,
        asset_id=asset_id,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=size[0],
        height=size[1],
    )


@dataclass(frozen=True)
class ItemAssets:
    """What one item needs fetched: its name (the file name), its assets, and the size they must have."""

    name: str
    asset_ids: Sequence[str]
    size: tuple[int, int] | None = None


def job_assets(job: JobView) -> ItemAssets:
    """What a batch job's download needs: its item's file name, its assets and their size."""
    return ItemAssets(job.item_name or job.id, job.asset_ids, (job.params.get("width"), job.params.get("height")))


def download_items(
    client: ScenarioClient, items: Sequence[ItemAssets], out_dir: Path
) -> Iterator[tuple[ItemAssets, list[FileRecord] | DownloadError]]:
    """Each item's images in `out_dir`, one result per item: its files, or why they could not be had.

    The URLs of every item are resolved in one bulk lookup just before the
    downloads; if one asset spoils that lookup, each item resolves its own.
    """
    try:
        urls: dict[str, str] | None = resolve_urls(client, [a for item in items for a in item.asset_ids])
    except DownloadError:
        urls = None
    for item in items:
        try:
            yield (
                item,
                download_item(
                    client,
                    item_name=item.name,
                    asset_ids=item.asset_ids,
                    out_dir=out_dir,
                    urls=urls,
                    expected_size=item.size,
                ),
            )
        except DownloadError as exc:
            yield item, exc
