"""A TCP server on 127.0.0.1 that never speaks TLS: it answers every connection with a
plain-HTTP ``400`` and closes it (a web server's plain port given an ``https://`` URL)."""

from __future__ import annotations

import socket
import socketserver
import threading
from types import TracebackType

ANSWER = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        try:
            sock.recv(4096)  # the ClientHello, unanswered as TLS
            sock.sendall(ANSWER)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class PlainHTTPServer:
    """``with PlainHTTPServer() as server: ... server.port``"""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PlainHTTPServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
