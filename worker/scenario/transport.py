"""One request over a pooled `requests.Session`, with every failure turned into a `ScenarioError`.

This module knows HTTP but not Scenario's endpoints: it sends, times, logs and
maps errors; the client above it knows the paths and the shapes of the answers.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from urllib3.util.retry import Retry

from worker.observe import metrics
from worker.scenario.errors import (
    NetworkError,
    ParallelLimitReached,
    PermanentError,
    RateLimited,
    UnexpectedResponse,
    error_from_response,
)

log = logging.getLogger("worker.scenario")

# Enough connections for a threaded worker's concurrency without blocking.
POOL_SIZE = 32
# Masking a secret shorter than this would mangle ordinary words, and no real secret is.
_MIN_MASKED_LEN = 6

# Failures where the request may never have reached the server, or its answer never
# reached us: a retry can help.
_NETWORK_FAILURES = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class Transport:
    """Sends requests with fixed timeouts, calls `before_request` first, logs one DEBUG line each.

    `on_answer(endpoint, status)` hears of every request that left: its HTTP status, or None
    when no answer came (refused, timed out, cut off).
    """

    def __init__(
        self,
        *,
        timeout: tuple[float, float],
        user_agent: str,
        before_request: Callable[[str], None] | None = None,
        on_rate_limited: Callable[[RateLimited], None] | None = None,
        on_answer: Callable[[str, int | None], None] | None = None,
        never_shown: tuple[str, ...] = (),
    ) -> None:
        self._timeout = timeout
        self._on_answer = on_answer
        self._before_request = before_request
        self._on_rate_limited = on_rate_limited
        self._never_shown = never_shown
        self._session = _pooled_session(user_agent)
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}

    def close(self) -> None:
        self._session.close()

    def send(self, endpoint: str, method: str, url: str, **options: Any) -> requests.Response:
        """One request; any answer comes back, a failure to get one raises."""
        if self._before_request is not None:
            self._before_request(endpoint)
        # Only the path is logged: signed download URLs carry their signature in the query.
        path = urlsplit(url).path
        started = time.monotonic()
        try:
            proxies = self._proxies_for(url)
            response = self._session.request(method, url, timeout=self._timeout, proxies=proxies, **options)
        except _NETWORK_FAILURES as exc:
            log.debug("%s %s %s failed in %.0f ms: %s", endpoint, method, path, _ms_since(started), type(exc).__name__)
            metrics.scenario_answer(endpoint, method, path, None)
            if self._on_answer is not None:
                self._on_answer(endpoint, None)
            raise NetworkError(f"{method} {path}: {_describe(exc)}") from exc
        except requests.RequestException as exc:
            log.debug("%s %s %s not sent: %s", endpoint, method, path, type(exc).__name__)
            raise PermanentError(f"{method} {path}: could not send the request: {_describe(exc)}") from exc
        log.debug("%s %s %s -> %d in %.0f ms", endpoint, method, path, response.status_code, _ms_since(started))
        metrics.scenario_answer(endpoint, method, path, response.status_code)
        if self._on_answer is not None:
            self._on_answer(endpoint, response.status_code)
        return response

    def _proxies_for(self, url: str) -> dict[str, str]:
        """The proxies the environment names for this URL's host (HTTPS_PROXY, NO_PROXY, ...), read
        once per host: requests would read the whole environment again for every request."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        found = self._proxies.get(key)
        if found is None:
            found = self._proxies[key] = get_environ_proxies(url)
        return found

    def send_json(self, endpoint: str, method: str, url: str, **options: Any) -> Any:
        """One request whose 2xx answer is JSON (or empty: None); any other answer raises."""
        response = self.checked(self.send(endpoint, method, url, **options))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise UnexpectedResponse(
                f"{endpoint}: HTTP {response.status_code} answer is not JSON "
                f"(Content-Type {response.headers.get('Content-Type')!r})",
                status=response.status_code,
            ) from None

    def checked(self, response: requests.Response) -> requests.Response:
        """`response` if it is a 2xx, else the matching `ScenarioError`."""
        if 200 <= response.status_code < 300:
            return response
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text  # a proxy's HTML page, or a plain-text answer
        error = error_from_response(response.status_code, self._masked(body), response.headers)
        # A 429 for the request rate holds back every request of the fleet, whoever sent it and
        # whatever it does with the error; one for the plan's parallel limit is about submits only.
        if self._on_rate_limited is not None and isinstance(error, RateLimited):
            if not isinstance(error, ParallelLimitReached):
                self._on_rate_limited(error)
        raise error

    def _masked(self, value: Any) -> Any:
        """A parsed body with the secrets masked in every string, should the server echo them anywhere."""
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, Mapping):
            return {self._masked(k): self._masked(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._masked(v) for v in value]
        return value

    def _redact(self, text: str) -> str:
        """A server's `text` with the secrets masked, should it echo them."""
        for needle in self._never_shown:
            text = text.replace(needle, "***")
        return text


def secrets_of(api_key: str, api_secret: str) -> tuple[str, ...]:
    """What must never be shown: the secret itself and the Basic token that carries it."""
    if len(api_secret) < _MIN_MASKED_LEN:
        return ()
    token = base64.b64encode(f"{api_key}:{api_secret}".encode()).decode("ascii")
    return (token, api_secret)


def _pooled_session(user_agent: str) -> requests.Session:
    session = requests.Session()
    # What requests reads from the environment before each request is read here once instead: the
    # proxies per host (`Transport._proxies_for`) and a CA bundle. Credentials come with each
    # request, so no .netrc is wanted.
    session.trust_env = False
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    # total=0: urllib3 must not retry behind the queue's back, or one task could
    # hit Scenario several times and ignore Retry-After.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=Retry(total=0, read=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"Accept": "application/json", "User-Agent": user_agent})
    return session


def _describe(exc: BaseException) -> str:
    """The innermost reason of a requests failure, which names the problem without the URL."""
    reason: BaseException = exc
    for _ in range(6):
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in reversed(reason.args) if isinstance(a, BaseException)), None)
        if inner is None:
            break
        reason = inner
    if reason is exc:
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__} ({type(reason).__name__}: {reason})"


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
