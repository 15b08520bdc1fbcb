"""A thin HTTP client for the simulator tests, and a PNG reader that checks every byte."""

from __future__ import annotations

import base64
import struct
import time
import zlib
from typing import Any

import requests

AUTH = ("sim-key", "sim-secret")


class ApiClient:
    """requests.Session with the simulator's base URL and credentials."""

    def __init__(self, api_url: str, auth: tuple[str, str] | None = AUTH, timeout: float = 5.0) -> None:
        self.api_url = api_url
        self.session = requests.Session()
        self.session.auth = auth
        self.timeout = timeout

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.api_url + path, timeout=kwargs.pop("timeout", self.timeout), **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(self.api_url + path, json=json, timeout=kwargs.pop("timeout", self.timeout), **kwargs)

    def submit(self, prompt: str = "a red fox", **fields: Any) -> requests.Response:
        return self.post("/generate/txt2img", {"modelId": "flux.1-dev", "prompt": prompt, **fields})

    def submit_job(self, prompt: str = "a red fox", **fields: Any) -> dict[str, Any]:
        response = self.submit(prompt, **fields)
        assert response.status_code == 200, response.text
        return response.json()["job"]

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()["job"]

    def wait_final(self, job_id: str, deadline_s: float = 5.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Poll until the job is final; returns the last answer and every answer seen."""
        seen = []
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            job = self.job(job_id)
            seen.append(job)
            if job["status"] in ("success", "failure", "canceled"):
                return job, seen
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} not final after {deadline_s} s: {seen[-1]}")

    def close(self) -> None:
        self.session.close()


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines of an 8-bit RGB PNG; asserts every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC on {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour) == (8, 2), "expected 8-bit RGB"
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    return width, height, raw


def png_data_url(width: int, height: int, palette: int = 0) -> str:
    """A real PNG as a data URL, as POST /assets takes it."""
    from worker.simulator.png import make_png

    return "data:image/png;base64," + base64.b64encode(make_png(width, height, palette)).decode()


def upload_image(api: ApiClient, width: int = 16, height: int = 8, palette: int = 0) -> str:
    """Upload a PNG; its asset id."""
    response = api.post("/assets", {"name": "ref.png", "image": png_data_url(width, height, palette)})
    assert response.status_code == 200, response.text
    return response.json()["asset"]["id"]


def generate(api: ApiClient, model_id: str, inputs: dict[str, Any], query: str = "") -> requests.Response:
    return api.post(f"/generate/custom/{model_id}{query}", inputs)
