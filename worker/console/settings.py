"""The console's own settings (logins, session key, Flower's address), read from the environment at the edge."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.settings import SettingsError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Shorter than this, a session key could be guessed; 32 characters is what `secrets.token_urlsafe(24)` gives.
MIN_SECRET_KEY_CHARS = 32
DEFAULT_SESSION_LIFETIME_S = 8 * 3600
# gunicorn worker processes of `scenario-worker console`.
DEFAULT_SERVER_WORKERS = 2
DEFAULT_SIGNIN_MAX_FAILURES = 5
DEFAULT_SIGNIN_WINDOW_S = 60.0


@dataclass(frozen=True)
class Login:
    """One user name and password; the password stays out of every repr."""

    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ConsoleSettings:
    admin: Login | None
    viewer: Login | None
    secret_key: str = field(repr=False)
    flower_url: str = ""
    dev_mode: bool = False
    # True when development mode made the admin login up (the CLI then prints it once).
    made_up_login: bool = False
    session_lifetime_s: int = DEFAULT_SESSION_LIFETIME_S
    # Wrong passwords allowed per client address and per user name within the window, before
    # further attempts are refused with 429 until the oldest failure leaves the window.
    signin_max_failures: int = DEFAULT_SIGNIN_MAX_FAILURES
    signin_window_s: float = DEFAULT_SIGNIN_WINDOW_S

    @classmethod
    def from_env(cls, host: str, environ: Mapping[str, str] | None = None) -> ConsoleSettings:
        """Settings for a console bound to `host`; SettingsError naming the variable when they cannot be used.

        Without an admin login and a secret key the console refuses to start,
        unless CONSOLE_DEV_MODE=true and it is bound to the loopback address:
        then a throwaway admin password and key are made up (and printed by the CLI).
        """
        env = os.environ if environ is None else environ
        dev_mode = _flag(env, "CONSOLE_DEV_MODE")
        admin = _login(env, "CONSOLE_ADMIN_USER", "CONSOLE_ADMIN_PASSWORD")
        viewer = _login(env, "CONSOLE_VIEWER_USER", "CONSOLE_VIEWER_PASSWORD")
        secret_key = env.get("CONSOLE_SECRET_KEY", "")
        if admin is None or not secret_key:
            if not (dev_mode and host in LOOPBACK_HOSTS):
                raise SettingsError(
                    "the console needs CONSOLE_ADMIN_USER, CONSOLE_ADMIN_PASSWORD and CONSOLE_SECRET_KEY; "
                    "only with CONSOLE_DEV_MODE=true and --host 127.0.0.1 does it start without them"
                )
            made_up = admin is None
            admin = admin or Login("dev", secrets.token_urlsafe(12))
            secret_key = secret_key or secrets.token_urlsafe(32)
        else:
            made_up = False
        if len(secret_key) < MIN_SECRET_KEY_CHARS:
            raise SettingsError(f"CONSOLE_SECRET_KEY must be at least {MIN_SECRET_KEY_CHARS} characters")
        if viewer is not None and viewer.user == admin.user:
            raise SettingsError("CONSOLE_VIEWER_USER must differ from CONSOLE_ADMIN_USER")
        flower_url = env.get("CONSOLE_FLOWER_URL", "").rstrip("/")
        if flower_url and not flower_url.startswith(("http://", "https://")):
            raise SettingsError(f"CONSOLE_FLOWER_URL={flower_url!r} must start with http:// or https://")
        return cls(
            admin=admin,
            viewer=viewer,
            secret_key=secret_key,
            flower_url=flower_url,
            dev_mode=dev_mode,
            made_up_login=made_up,
            signin_max_failures=_number(env, "CONSOLE_SIGNIN_MAX_FAILURES", DEFAULT_SIGNIN_MAX_FAILURES, int),
            signin_window_s=_number(env, "CONSOLE_SIGNIN_WINDOW_S", DEFAULT_SIGNIN_WINDOW_S, float),
        )


def _login(env: Mapping[str, str], user_name: str, password_name: str) -> Login | None:
    user, password = env.get(user_name, ""), env.get(password_name, "")
    if not user and not password:
        return None
    if not user or not password:
        missing = user_name if not user else password_name
        raise SettingsError(f"{missing} is empty; set both {user_name} and {password_name}, or neither")
    return Login(user, password)


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name}={raw!r} is not {expected}") from None
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be greater than 0")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}={raw!r} is not true or false")
