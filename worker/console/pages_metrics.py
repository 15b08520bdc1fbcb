"""`/metrics` for Prometheus: open without a session, like a worker's own endpoint.

It shows the fleet's gauges and this process's counters; with PROMETHEUS_MULTIPROC_DIR
shared with the workers of the same host, their counters too.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app
from werkzeug.wrappers import Response

from worker import runtime
from worker.observe import serve

blueprint = Blueprint("metrics", __name__)

_REGISTRY_KEY = "metrics_registry"


@blueprint.get("/metrics")
def index() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(_registry()), mimetype=None, content_type=CONTENT_TYPE_LATEST)


def _registry() -> Any:
    registry = current_app.extensions.get(_REGISTRY_KEY)
    if registry is None:
        registry = current_app.extensions[_REGISTRY_KEY] = serve.registry(runtime.current_settings())
    return registry
