"""A TLS HTTP/1.1 keep-alive server on loopback that records every request as raw bytes.

For tests that compare what two clients put on the wire: each request's head and body
are kept exactly as read (``requests``), and each is answered from a queue of scripted
replies (``reply(...)``), or with the ledger's ``GetBalanceResponse`` when the queue is
empty.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

#: the default answer: a GetBalanceResponse of the ledger WSDL (account 42)
CANNED = (
    b"<?xml version='1.0' encoding='utf-8'?>\n"
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<tns:GetBalanceResponse xmlns:tns="urn:soapguard:ledger"><tns:account>42</tns:account>'
    b"<tns:balance>1234.56</tns:balance><tns:currency>EUR</tns:currency>"
    b"</tns:GetBalanceResponse></soap:Body></soap:Envelope>"
)


@dataclass
class Reply:
    status: int = 200
    reason: str = "OK"
    headers: list[tuple[str, str]] = field(
        default_factory=lambda: [("Content-Type", "text/xml; charset=utf-8")]
    )
    body: bytes = CANNED


class RecordingServer:
    """Serves until stopped; ``requests`` holds the raw bytes of every request, in order."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.requests: list[bytes] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, path: str = "/svc", *, userinfo: str = "") -> str:
        return f"https://{userinfo}127.0.0.1:{self.port}{path}"

    def reply(
        self, status: int = 200, headers: Any = (), body: bytes = b"", reason: str = ""
    ) -> None:
        """Queue the answer to the next request."""
        with self._lock:
            self._replies.append(Reply(status, reason or "Whatever", list(headers), body))

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(30)
        try:
            with self._context.wrap_socket(raw, server_side=True) as conn:
                reader = conn.makefile("rb")
                while self._exchange(conn, reader):
                    pass
        except (OSError, ValueError):
            pass

    def _exchange(self, conn: ssl.SSLSocket, reader: Any) -> bool:
        head = reader.readline(65536)
        if not head:
            return False
        length = 0
        while True:
            line = reader.readline(65536)
            head += line
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = reader.read(length) if length else b""
        with self._lock:
            self.requests.append(head + body)
            reply = self._replies.pop(0) if self._replies else Reply()
        lines = [f"HTTP/1.1 {reply.status} {reply.reason}"]
        lines += [f"{name}: {value}" for name, value in reply.headers]
        lines.append(f"Content-Length: {len(reply.body)}")
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body)
        return True
