"""Signed, expiring download links, as a CDN in front of the asset store would hand out."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote


def signature(key: bytes, asset_id: str, expires_ms: int) -> str:
    return hmac.new(key, f"{asset_id}:{expires_ms}".encode(), hashlib.sha256).hexdigest()


def download_url(base_url: str, key: bytes, asset_id: str, expires_ms: int, extension: str = "png") -> str:
    """`{base}/_files/{assetId}.{ext}?expires={ms since epoch}&signature={hex}`."""
    sig = signature(key, asset_id, expires_ms)
    return f"{base_url}/_files/{quote(asset_id, safe='')}.{extension}?expires={expires_ms}&signature={sig}"


def link_problem(key: bytes, asset_id: str, expires: str | None, sig: str | None, now_ms: int) -> str | None:
    """Why a download link may not be served, or None when it is good."""
    if not expires or not sig:
        return "the download link is not signed"
    try:
        expires_ms = int(expires)
    except ValueError:
        return "the download link is not signed"
    if not hmac.compare_digest(signature(key, asset_id, expires_ms), sig):
        return "the download link's signature does not match"
    if now_ms > expires_ms:
        return "the download link has expired"
    return None
