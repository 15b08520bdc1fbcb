"""A TCP proxy a test puts between the workers and PostgreSQL, to make the database go away."""

from __future__ import annotations

import socket
import threading

from tests.harness import free_port


class FlakyProxy:
    """Forwards connections to `host:port`; `refuse()` drops every live one and turns new ones away."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.refused = 0
        self._refusing = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)

    def start(self) -> FlakyProxy:
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()
        return self

    def refuse(self) -> None:
        """From now on, every connection is closed: those open now, and each new one at once."""
        self._refusing.set()
        with self._lock:
            live, self._live = self._live, set()
        for sock in live:
            _close(sock)

    def allow(self) -> None:
        self._refusing.clear()

    def stop(self) -> None:
        self._stopping.set()
        self.refuse()
        _close(self._listener)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._refusing.is_set():
                self.refused += 1
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._live.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._live.discard(source)
                self._live.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
