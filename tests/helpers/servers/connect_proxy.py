"""A minimal HTTP CONNECT proxy on loopback that records the tunnels it opened."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading


class _Handler(socketserver.StreamRequestHandler):
    server: ConnectProxy

    def handle(self) -> None:
        request_line = self.rfile.readline(65537).decode("latin-1").strip()
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass
        method, target, _ = request_line.split(" ", 2)
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        with self.server.lock:
            self.server.tunnels.append(target)
            refusal = self.server.refusals.pop(0) if self.server.refusals else None
        if refusal is not None:  # answer the CONNECT itself with an error status
            self.wfile.write(f"HTTP/1.1 {refusal}\r\nContent-Length: 0\r\n\r\n".encode())
            return
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        pump = threading.Thread(target=_copy, args=(upstream, self.connection), daemon=True)
        pump.start()
        _copy(self.connection, upstream)
        pump.join(10)


def _copy(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


class ConnectProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.tunnels: list[str] = []
        #: status lines ("502 Bad Gateway") to answer the next CONNECTs with, in order
        self.refusals: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
