"""Everything checked before a paid submit: the model's own input schema, reference images, a seed.

At enqueue time a request is checked against the schema Scenario publishes for its
model (`GET /models/{id}`, cached), its local reference images are uploaded once
(keyed by their sha256), the model's defaults are filled in and, when the model takes
a seed and none was given, one is chosen, so every job is reproducible and its
submission recognisable. When Scenario cannot be reached, only the local checks run
and the worker checks again before it submits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis

from worker.fleet.errors import FleetError
from worker.generation import GenerationRequest
from worker.scenario.client import ScenarioClient
from worker.scenario.errors import Forbidden, NotFound, TransientError
from worker.scenario.schema import InputError, ModelSchema

log = logging.getLogger("worker.preflight")

PREFIX = "scenario-worker"
# Uploaded assets stay on Scenario; their ids are remembered this long.
UPLOAD_MEMORY_S = 30 * 86_400
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
SEED_SPACE = 2**32

_IMAGE_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(data: bytes) -> str | None:
    """The MIME type of an image by its first bytes, or None when it is no image this worker uploads."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in _IMAGE_TYPES if data.startswith(magic)), None)


class _Memo:
    """A small cache kept in this process and, when there is one, in Redis for the whole fleet."""

    def __init__(self, shared: redis.Redis | None, kind: str, ttl_s: float) -> None:
        self._shared = shared
        self._kind = kind
        self._ttl_s = ttl_s
        self._local: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            hit = self._local.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        if self._shared is None:
            return None
        try:
            raw = self._shared.get(f"{PREFIX}:{self._kind}:{key}")
        except redis.RedisError:
            return None  # a cache that cannot be read is a cache miss
        if raw is None:
            return None
        value = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._remember(key, value)
        return value

    def put(self, key: str, value: str) -> None:
        self._remember(key, value)
        if self._shared is not None:
            try:
                self._shared.set(f"{PREFIX}:{self._kind}:{key}", value, px=max(1, int(self._ttl_s * 1000)))
            except redis.RedisError:
                pass

    def _remember(self, key: str, value: str) -> None:
        with self._lock:
            self._local[key] = (time.monotonic() + self._ttl_s, value)


class ModelCatalogue:
    """Each model's input schema, fetched once and cached for `ttl_s`."""

    def __init__(self, client: ScenarioClient, shared: redis.Redis | None, *, ttl_s: float) -> None:
        self._client = client
        self._memo = _Memo(shared, "model", ttl_s)
        # The schema last built from each cached text: a batch of 100,000 items builds it once.
        self._built: dict[str, tuple[str, ModelSchema]] = {}

    def schema(self, model_id: str) -> ModelSchema:
        """The model's schema; ValueError naming model_id when Scenario has no such model for this key.

        A Scenario that cannot be reached raises its TransientError, for the caller to decide.
        """
        cached = self._memo.get(model_id)
        if cached is not None:
            built = self._built.get(model_id)
            if built is None or built[0] != cached:
                built = (cached, ModelSchema.from_model(json.loads(cached)))
                self._built[model_id] = built
            return built[1]
        try:
            model = self._client.get_model(model_id)
        except NotFound:
            raise ModelRefused(model_id, f"model_id: Scenario has no model {model_id!r} for this API key") from None
        except Forbidden as exc:
            raise ModelRefused(
                model_id, f"model_id: this API key may not use model {model_id!r}: {exc.message}"
            ) from None
        self._memo.put(model_id, json.dumps(model))
        return ModelSchema.from_model(model)


class ModelRefused(InputError):
    """Scenario says this key cannot use the model: no request for it can succeed."""

    def __init__(self, model_id: str, message: str) -> None:
        super().__init__(model_id, [message])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.model_id, str(self)))


class ReferenceUploads:
    """Local images given as file inputs, uploaded once each (by content) and replaced by asset ids."""

    def __init__(self, client: ScenarioClient, shared: redis.Redis | None) -> None:
        self._client = client
        self._memo = _Memo(shared, "upload", UPLOAD_MEMORY_S)
        # (resolved path, size, mtime in ns) -> sha256 of a file already checked.
        self._digests: dict[tuple[str, int, int], str] = {}

    def asset_id(self, name: str, path: Path) -> str:
        digest = self._digest(name, path)
        known = self._memo.get(digest)
        if known is not None:
            return known
        data = path.read_bytes()
        asset = self._client.upload_image(path.name, data, image_type(data) or "application/octet-stream")
        asset_id = str(asset["id"])
        self._memo.put(digest, asset_id)
        log.info("uploaded reference image file=%s sha256=%s asset_id=%s", path.name, digest[:12], asset_id)
        return asset_id

    def _digest(self, name: str, path: Path) -> str:
        """The file's sha256 once checked; a file unchanged since (same size and mtime) is not read again,
        so ten thousand items sharing one reference read it once."""
        try:
            stat = path.stat()
        except OSError as exc:
            raise ValueError(f"{name}: cannot read {str(path)!r}: {exc.strerror or exc}") from None
        seen_as = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        digest = self._digests.get(seen_as)
        if digest is not None:
            return digest
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{name}: cannot read {str(path)!r}: {exc.strerror or exc}") from None
        if len(data) > MAX_UPLOAD_BYTES:
            raise ValueError(f"{name}: {str(path)!r} is {len(data)} bytes; at most {MAX_UPLOAD_BYTES} can be uploaded")
        if image_type(data) is None:
            raise ValueError(f"{name}: {str(path)!r} is not a PNG, JPEG, WebP or GIF image")
        digest = hashlib.sha256(data).hexdigest()
        self._digests[seen_as] = digest
        return digest


def local_path(value: Any, base_dir: Path) -> Path | None:
    """The local file a file input names, or None when the value is an asset id.

    A value that names an existing file is a path; one that looks like a path
    (a folder in it, or an image extension) but names nothing is a mistake.
    """
    if not isinstance(value, str) or value.startswith("asset_"):
        return None
    candidate = Path(value).expanduser()
    candidate = candidate if candidate.is_absolute() else base_dir / candidate
    if candidate.is_file():
        return candidate
    if "/" in value or "\\" in value or Path(value).suffix.lower() in {".png", ".jpg", ".jpeg", ".webp", ".gif"}:
        raise ValueError(f"no such file {value!r} (looked in {str(candidate.parent)!r})")
    return None


class Preflight:
    """Prepares requests for sending: the model's schema, uploads, defaults and a seed."""

    def __init__(self, catalogue: ModelCatalogue, uploads: ReferenceUploads) -> None:
        self.catalogue = catalogue
        self.uploads = uploads

    def prepare(self, request: GenerationRequest, *, base_dir: Path | None = None) -> GenerationRequest:
        """The request as it will be sent; ValueError naming the model and input when it cannot be.

        When Scenario cannot be reached now, the request comes back as given (the
        worker checks it again before it submits); a local image cannot be uploaded
        then, which is an error.
        """
        base = base_dir or Path.cwd()
        try:
            schema = self.catalogue.schema(request.model_id)
        except (TransientError, FleetError) as exc:
            for name, value in request.inputs.items():
                values = value if isinstance(value, list) else [value]
                if any(_safe_local_path(v, base) for v in values):
                    raise ValueError(
                        f"{name}: a local image must be uploaded to Scenario, which cannot be reached now ({exc})"
                    ) from None
            log.info("model %s not checked against its schema now: %s", request.model_id, exc)
            return request
        # Checked before anything is uploaded: a request that fails its check leaves no trace.
        inputs = self.complete(schema, request.inputs)
        for name in schema.file_inputs():
            if name in inputs:
                inputs[name] = self._uploaded(name, inputs[name], base)
        return request.with_inputs(inputs)

    def params_to_send(self, model_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """A stored job's params checked again just before its submit; InputError when they fail.

        Errors of the catalogue (Scenario unreachable, the model refused) are raised as they are.
        """
        schema = self.catalogue.schema(model_id)
        inputs = {k: v for k, v in params.items() if k != "modelId"}
        return {"modelId": model_id, **self.complete(schema, inputs)}

    @staticmethod
    def complete(schema: ModelSchema, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The inputs with a seed chosen when the model takes one, checked, defaults filled in."""
        inputs = dict(inputs)
        if schema.takes_seed and "seed" not in inputs:
            # Chosen once and stored before the first submit: the job can be made again,
            # and its submission told apart from any other when an answer is lost.
            inputs["seed"] = str(secrets.randbelow(SEED_SPACE))
        return schema.check(inputs)

    def _uploaded(self, name: str, value: Any, base: Path) -> Any:
        if isinstance(value, list):
            return [self._uploaded(f"{name}[{i}]", item, base) for i, item in enumerate(value)]
        try:
            path = local_path(value, base)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        return value if path is None else self.uploads.asset_id(name, path)


def _safe_local_path(value: Any, base: Path) -> bool:
    try:
        return local_path(value, base) is not None
    except ValueError:
        return False


__all__ = ["InputError", "ModelCatalogue", "ModelRefused", "Preflight", "ReferenceUploads", "image_type"]
