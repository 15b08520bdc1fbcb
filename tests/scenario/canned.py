"""A tiny real HTTP server that answers canned responses in order, for answers the simulator never gives."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Canned:
    """One answer. A dict or list `body` is sent as JSON; `drop` closes the socket without answering."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay_s: float = 0.0
    # Announce more bytes than are sent, then hang up: a body cut short.
    short_by: int = 0


@dataclass(frozen=True)
class Seen:
    """One request as it reached the server."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class CannedServer:
    """Listens on 127.0.0.1 at a free port; answers queued `Canned` responses first in, first out."""

    def __init__(self) -> None:
        self._answers: list[Canned] = []
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, *answers: Canned) -> CannedServer:
        with self._lock:
            self._answers.extend(answers)
        return self

    def next_answer(self) -> Canned:
        with self._lock:
            if self._answers:
                return self._answers.pop(0)
        return Canned(status=599, body={"message": "the test queued no answer for this request"})

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def __enter__(self) -> CannedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(server: CannedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keeps connections open, so the client's pool is exercised as in production.
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            server.record(Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body))
            answer = server.next_answer()
            if answer.delay_s:
                time.sleep(answer.delay_s)
            if answer.drop:
                self.close_connection = True
                return
            payload, content_type = _encode(answer.body)
            self.send_response(answer.status)
            headers = {"Content-Type": content_type, **answer.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload) + answer.short_by))
            self.end_headers()
            self.wfile.write(payload)
            if answer.short_by:
                self.wfile.flush()
                self.close_connection = True

    return Handler


def _encode(body: Any) -> tuple[bytes, str]:
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode(), "application/json"
    if isinstance(body, str):
        return body.encode(), "text/html; charset=utf-8"
    return bytes(body), "application/octet-stream"
