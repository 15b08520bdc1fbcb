"""Health: broker, database, workers, and the fleet's pauses and budget."""

from __future__ import annotations

from flask import Blueprint, render_template

from worker import runtime
from worker.console.health import health

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def index():
    report = health(runtime.current())
    return render_template("health.html", health=report), 200 if report.ok else 503
