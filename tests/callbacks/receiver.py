"""An application's webhook endpoint for tests: a real HTTP server that keeps what arrives and
answers with the status it is told to."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from worker.callbacks import SeenIds, SignatureError, verify


@dataclass(frozen=True)
class Arrival:
    path: str
    headers: dict[str, str]
    body: bytes
    # What verify said: None when the delivery was genuine, else the error's class name.
    refused: str | None


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.answer = 200
        self.arrivals: list[Arrival] = []
        self.seen = SeenIds()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verify(receiver.secret, headers, body)
                    refused = None
                except SignatureError as exc:
                    refused = type(exc).__name__
                with receiver._lock:
                    receiver.arrivals.append(Arrival(self.path, headers, body, refused))
                    status = receiver.answer if refused is None else 400
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hooks/jobs") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def for_job(self, job_id: str) -> list[Arrival]:
        with self._lock:
            return [a for a in self.arrivals if a.headers.get("webhook-id") == f"msg_{job_id}"]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
