"""Settings given from code: `worker.configure(database_url=..., broker_url=..., api_key=...)`.

The same typed `Settings` the environment builds, with the values given here on top of the
environment's; this process's runtime and its Celery app then use them.
"""

from __future__ import annotations

import difflib
from dataclasses import fields
from typing import Any

from worker.settings import Settings, SettingsError

# Shorter names an application may use for the Scenario settings.
ALIASES = {
    "api_key": "scenario_api_key",
    "api_secret": "scenario_api_secret",
    "api_url": "scenario_api_url",
    "team_id": "scenario_team_id",
}
_FIELDS = {f.name: f for f in fields(Settings)}


def configure(
    *,
    database_url: str | None = None,
    broker_url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    api_url: str | None = None,
    redis_url: str | None = None,
    **more: str | int | float | bool,
) -> Settings:
    """Use these settings in this process from now on; the rest come from the environment.

    Every keyword is a field of `worker.settings.Settings` (`read_timeout_s=10`, `parallel_jobs=4`),
    with `api_key`, `api_secret`, `api_url` and `team_id` for the `scenario_` ones. A wrong name
    or value raises SettingsError naming it, and the settings in use stay as they were.
    """
    given: dict[str, Any] = {
        "database_url": database_url,
        "broker_url": broker_url,
        "api_key": api_key,
        "api_secret": api_secret,
        "api_url": api_url,
        "redis_url": redis_url,
        **more,
    }
    settings = settings_from_code({k: v for k, v in given.items() if v is not None})
    _use(settings)
    return settings


def settings_from_code(given: dict[str, Any]) -> Settings:
    """The environment's settings with these on top; SettingsError naming the first wrong one."""
    overrides: dict[str, Any] = {}
    for name, value in given.items():
        field_name = ALIASES.get(name, name)
        if field_name not in _FIELDS:
            raise SettingsError(f"configure(): no setting is called {name!r}{_suggestion(name)}")
        overrides[field_name] = _checked(name, value, type(_FIELDS[field_name].default))
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise SettingsError(f"configure(): {exc}") from None


def _checked(name: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        shown = type(value).__name__ if "secret" in name or "key" in name else repr(value)
        raise SettingsError(f"configure(): {name} must be {_KINDS[kind]}, got {shown}")
    return value


_KINDS = {str: "a string", int: "a whole number", float: "a number", bool: "True or False"}


def _suggestion(name: str) -> str:
    known = [*_FIELDS, *ALIASES]
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _use(settings: Settings) -> None:
    from worker import runtime
    from worker.celery_app import send_to

    runtime.install(settings)
    send_to(settings)
