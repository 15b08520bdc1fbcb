"""Who may do what: logins checked against the settings, two roles, and the CSRF token of a session."""

from __future__ import annotations

import hmac
import secrets
from enum import StrEnum

from worker.console.settings import ConsoleSettings, Login


class Role(StrEnum):
    """What a signed-in user may do."""

    ADMIN = "admin"  # everything: replay, cancel, purge
    VIEWER = "viewer"  # sees everything, changes nothing


def authenticate(settings: ConsoleSettings, user: str, password: str) -> Role | None:
    """The role of this user name and password, or None; every login is compared, in constant time."""
    found: Role | None = None
    for role, login in ((Role.ADMIN, settings.admin), (Role.VIEWER, settings.viewer)):
        if login is not None and _matches(login, user, password):
            found = role
    return found


def _matches(login: Login, user: str, password: str) -> bool:
    # Both compared every time, so the answer's timing tells nothing about which part was wrong.
    same_user = hmac.compare_digest(login.user.encode(), user.encode())
    same_password = hmac.compare_digest(login.password.encode(), password.encode())
    return same_user and same_password


def may_change(role: Role | str | None) -> bool:
    """Whether this role may replay, cancel or purge."""
    return role == Role.ADMIN


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Whether a form's token is the one of its session; a missing one on either side never is."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
