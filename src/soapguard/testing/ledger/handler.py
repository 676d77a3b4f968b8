"""HTTP/1.1 request handling for the ledger server.

Reads requests (keep-alive, Content-Length bodies only), routes ``GET`` to the
served WSDL/XSD documents and ``POST /ledger`` to a :class:`Backend` that does
the SOAP work.  Answers carry a ``Content-Length``, unless the backend asks for a
SOAP answer to be framed otherwise (:data:`Framing`): ``chunked``
(``Transfer-Encoding: chunked``) or ``close`` (no length: the body ends when the
server closes the connection, which it does without a TLS close_notify, as many
servers do).  A request whose body does not fully arrive is neither answered nor
handed to the backend.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from ...diagnostics.redact import redact_text
from .http import TrackingServerMixin

logger = logging.getLogger(__name__)

PATH = "/ledger"
MAX_BODY = 16 * 1024 * 1024
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}

Reply = tuple[int, Mapping[str, str], bytes]
#: how a reply's body is delimited: Content-Length, chunked, or by closing the connection
Framing = Literal["length", "chunked", "close"]
#: bytes per chunk of a chunked reply
CHUNK = 16 * 1024


class Backend(Protocol):
    def document(self, name: str | None) -> bytes | None:
        """A served file by name (``None``: the main WSDL), or ``None`` if unknown."""

    def answer_post(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        """Status, headers and body for a fully received SOAP POST (``headers``: the request's)."""

    def framing(self) -> Framing:
        """How to frame the answer to the POST just answered."""


class LedgerHTTPServer(TrackingServerMixin, HTTPServer):
    """The listening server: one daemon thread per connection, see the mixin."""

    def __init__(
        self,
        address: tuple[str, int],
        backend: Backend,
        ssl_context: ssl.SSLContext | None,
        idle_timeout: float = 30.0,
    ) -> None:
        self.backend = backend
        self.ssl_context = ssl_context
        self._clients: list[dict[str, str]] = []
        self.idle_timeout = idle_timeout
        self.init_tracking()
        super().__init__(address, LedgerHandler)

    def note_client(self, conn: ssl.SSLSocket) -> None:
        """Remember the subject of the client certificate ``conn`` presented, if any."""
        peer: Any = conn.getpeercert()
        if peer:
            subject = {
                str(key): str(value) for rdn in peer.get("subject", ()) for key, value in rdn
            }
            with self._track_lock:
                self._clients.append(subject)

    def seen_clients(self) -> list[dict[str, str]]:
        """Subjects of the client certificates presented so far (mutual TLS), in order."""
        with self._track_lock:
            return list(self._clients)


class LedgerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "soapguard-ledger/1"
    #: idle keep-alive connections are closed after this many seconds (then the server's own)
    timeout = 30
    server: LedgerHTTPServer

    def setup(self) -> None:
        # headers and body are separate writes: without TCP_NODELAY, Nagle holds the
        # body until the client's delayed ACK (~40 ms on Linux) for every response
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.request, ssl.SSLSocket):
            self.server.note_client(self.request)
        super().setup()
        self.request.settimeout(self.server.idle_timeout)  # the server's idle limit

    def log_message(self, format: str, *args: object) -> None:
        # request lines can carry credentials in the query string: redact like the client does
        logger.debug("%s %s", self.address_string(), redact_text(format % args))

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        backend = self.server.backend
        if parts.path == PATH:
            document = backend.document(None) if parts.query.lower() == "wsdl" else None
        else:
            name = parts.path[1:]
            document = backend.document(name) if name and "/" not in name else None
        if document is None:
            self._reply(404, _TEXT, b"Not Found")
        else:
            self._reply(200, {"Content-Type": "text/xml; charset=utf-8"}, document)

    def do_POST(self) -> None:
        if urlsplit(self.path).path != PATH:
            self.close_connection = True  # the body is not read
            self._reply(404, _TEXT, b"Not Found")
            return
        body = self._read_body()
        if body is not None:
            backend = self.server.backend
            reply = backend.answer_post(body, dict(self.headers.items()))
            self._reply(*reply, framing=backend.framing())

    def _read_body(self) -> bytes | None:
        """The request body, or ``None`` after answering/closing when it cannot be had.

        Chunked bodies are refused with 411 (zeep and requests always send a length).
        """
        keep_alive = not self.close_connection
        self.close_connection = True  # until the whole body is read
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._reply(411, _TEXT, b"Length Required")
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(411, _TEXT, b"Length Required")
            return None
        if not 0 <= length <= MAX_BODY:
            self._reply(413, _TEXT, b"Content Too Large")
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            logger.debug("client closed after %d of %d body bytes", len(body), length)
            return None
        self.close_connection = not keep_alive
        return body

    def _reply(
        self, status: int, headers: Mapping[str, str], body: bytes, framing: Framing = "length"
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if framing == "close":
            self.close_connection = True
        if framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        elif framing == "length":
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if framing != "chunked":
            self.wfile.write(body)
            return
        for start in range(0, len(body), CHUNK):
            piece = body[start : start + CHUNK]
            self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")
