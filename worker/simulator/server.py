"""The HTTP transport: a threading HTTP/1.1 server with keep-alive, quiet by default."""

from __future__ import annotations

import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from worker.simulator.control import Control
from worker.simulator.messages import ApiError, Request, Response
from worker.simulator.pipeline import Dispatcher

MAX_BODY_BYTES = 1024 * 1024
# Room in a body beyond the largest upload: base64 grows it by a third, plus the JSON around it.
_BODY_SLACK_BYTES = 64 * 1024
# An idle keep-alive connection is closed after this long, so its thread ends.
IDLE_TIMEOUT_S = 60.0
_REASONS = {269: "Dry Run"}


class HttpServer(ThreadingHTTPServer):
    """Threads per connection, a deep listen backlog, and a list of open connections for stop()."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher, control: Control, verbose: bool) -> None:
        self.dispatcher = dispatcher
        self.control = control
        self.verbose = verbose
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._open_lock:
            self._open.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(conn)

    def close_connections(self) -> None:
        """End every open connection, so keep-alive clients cannot go on talking to a stopped server."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 (socketserver's signature)
        # Clients that hang up mid-answer are normal under fault injection; say nothing unless asked.
        if self.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ScenarioSimulator/1.0"
    timeout = IDLE_TIMEOUT_S
    # Small answers must not wait for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _serve(self) -> None:
        split = urlsplit(self.path)
        try:
            body = self._read_body()
        except ApiError as error:
            self.close_connection = True
            self._write(self.server.dispatcher.shaper.render(error))
            return
        host = self.headers.get("Host") or "%s:%s" % self.server.server_address[:2]
        req = Request(
            # HEAD is a GET whose body is left unsent (see _write).
            method="GET" if self.command == "HEAD" else self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            base_url=f"http://{host}",
        )
        if split.path == "/" or split.path.startswith("/_sim"):
            response: Response | None = self.server.control.handle(req)
        else:
            response = self.server.dispatcher.handle(req)
        if response is None:
            self._drop()
        else:
            self._write(response)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() not in ("", "identity"):
            raise ApiError(411, "send the body with a Content-Length", code="LENGTH_REQUIRED")
        raw = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(raw)
        except ValueError:
            raise ApiError(400, "Content-Length is not a number") from None
        if length < 0:
            raise ApiError(400, "Content-Length is not a number")
        limit = max(MAX_BODY_BYTES, self.server.dispatcher.config.max_upload_bytes * 4 // 3 + _BODY_SLACK_BYTES)
        if length > limit:
            raise ApiError(413, f"request body over {limit} bytes")
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        # Close without a single byte of answer, as a crashed proxy would.
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write(self, response: Response) -> None:
        self.send_response(response.status, _REASONS.get(response.status))
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("x-request-id", uuid.uuid4().hex)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
