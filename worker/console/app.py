"""The console's Flask app: sign-in, sessions, CSRF on every POST, and the pages' blueprints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from worker.extras import missing_extra

try:
    from flask import Flask, abort, flash, g, make_response, redirect, render_template, request, session, url_for
    from werkzeug.wrappers import Response
except ImportError as exc:  # an install without the console extra is told which to add
    raise missing_extra(exc, "the console") from None

from worker import runtime
from worker.console import hooks, probes
from worker.console.auth import Role, authenticate, csrf_ok, may_change, new_csrf_token
from worker.console.settings import ConsoleSettings
from worker.console.signin_limit import MemoryFailures, RedisFailures, SignInLimiter

# Pages need nothing from elsewhere: no script at all, styles and images from the console only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
# Endpoints open without a session: the sign-in page, the stylesheet it uses, the probes,
# Prometheus's scrape (numbers only: no id, name or secret is ever a label), and Scenario's webhooks.
OPEN_ENDPOINTS = frozenset({"login", "static", "metrics.index"}) | probes.ENDPOINTS | hooks.ENDPOINTS

F = TypeVar("F", bound=Callable[..., Any])


def create_app(settings: ConsoleSettings) -> Flask:
    from worker.console import pages_batches, pages_deadletters, pages_health, pages_jobs, pages_metrics

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="scenario_console",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_lifetime_s),
    )
    app.extensions["console_settings"] = settings
    app.before_request(_require_login_and_csrf)
    app.after_request(_security_headers)
    app.context_processor(_template_globals)
    app.add_url_rule("/login", "login", _login, methods=["GET", "POST"])
    app.add_url_rule("/logout", "logout", _logout, methods=["POST"])
    app.add_url_rule("/", "index", lambda: redirect(url_for("batches.index")))
    app.add_url_rule("/healthz", "healthz", probes.healthz)
    app.add_url_rule("/readyz", "readyz", probes.readyz)
    for module in (hooks, pages_batches, pages_jobs, pages_deadletters, pages_health, pages_metrics):
        app.register_blueprint(module.blueprint)
    return app


def console_settings() -> ConsoleSettings:
    from flask import current_app

    return current_app.extensions["console_settings"]


def signin_limiter() -> SignInLimiter:
    """The app's sign-in limiter, built on first use: in Redis when the system has one."""
    from flask import current_app

    limiter = current_app.extensions.get("signin_limiter")
    if limiter is None:
        settings = console_settings()
        shared = runtime.current().redis
        store = RedisFailures(shared) if shared is not None else MemoryFailures()
        limiter = SignInLimiter(store, max_failures=settings.signin_max_failures, window_s=settings.signin_window_s)
        current_app.extensions["signin_limiter"] = limiter
    return limiter


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = new_csrf_token()
    return token


def _require_login_and_csrf() -> Response | None:
    g.user, g.role = session.get("user"), session.get("role")
    if request.endpoint in hooks.ENDPOINTS:
        return None  # a machine's delivery: no session, no form, its own check
    if request.method == "POST" and not csrf_ok(session.get("csrf"), request.form.get("csrf_token")):
        abort(400, description="the form's CSRF token is missing or not this session's; reload the page and retry")
    if request.endpoint in OPEN_ENDPOINTS or g.user:
        return None
    return redirect(url_for("login", next=request.full_path if request.query_string else request.path))


def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _template_globals() -> dict[str, Any]:
    return {
        "csrf_token": csrf_token,
        "can_change": may_change(g.get("role")),
        "flower_url": console_settings().flower_url,
    }


def _login() -> Any:
    if request.method == "GET":
        return render_template("login.html", error=None)
    limiter, address, user = signin_limiter(), request.remote_addr or "", request.form.get("user", "")
    ruling = limiter.check(address, user)
    if not ruling.allowed:
        error = f"too many failed sign-ins from this address or for this user; try again in {ruling.retry_after_s} s"
        response = make_response(render_template("login.html", error=error), 429)
        response.headers["Retry-After"] = str(ruling.retry_after_s)
        return response
    role = authenticate(console_settings(), user, request.form.get("password", ""))
    if role is None:
        limiter.failed(address, user)
        return render_template("login.html", error="wrong user name or password"), 401
    session.clear()
    session.permanent = True
    session.update(user=request.form["user"], role=Role(role).value, csrf=new_csrf_token())
    flash(f"signed in as {request.form['user']} ({role.value})")
    return redirect(_local(request.args.get("next")) or url_for("batches.index"))


def _logout() -> Response:
    session.clear()
    return redirect(url_for("login"))


def _local(target: str | None) -> str | None:
    """A redirect target only when it stays on this site (a path, never //host or a scheme)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None
