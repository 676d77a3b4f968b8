"""A TLS HTTP/1.1 server on 127.0.0.1 that echoes each POST back, the way careless servers do.

Modes (``EchoServer.mode``, changeable between requests):

* ``"text"``: HTTP 500, ``text/plain``, the request line, headers and body as received;
* ``"fault"``: HTTP 500 with a SOAP 1.1 Fault whose ``faultstring`` is the request,
  XML-escaped (so zeep's ``Fault.message`` holds the raw request text);
* ``"fault-escaped"``: the same, escaped twice (the message holds escaped markup);
* ``"bad-headers"``: HTTP 200 with a valid GetBalance response, but one header line
  (carrying the request's ``Cookie`` value) that urllib3 cannot parse, so it logs
  "Failed to parse headers (url=...)" with the request URL.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape

RESPONSE = b"""<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
<soap:Body><GetBalanceResponse xmlns="urn:soapguard:ledger">
<account>1</account><balance>10.50</balance><currency>EUR</currency>
</GetBalanceResponse></soap:Body></soap:Envelope>"""


def _fault(text: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        "<soap:Fault><faultcode>soap:Server</faultcode>"
        f"<faultstring>{escape(text)}</faultstring></soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        echoed = f"{self.requestline}\r\n{self.headers}".encode("latin-1") + body
        mode = self.server.echo.mode
        self.server.echo.requests += 1
        if mode == "bad-headers":
            cookie = self.headers.get("Cookie", "")
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"
                f"Content-Length: {len(RESPONSE)}\r\n"
                f"this line has no colon {cookie}\r\n\r\n"
            )
            self.wfile.write(head.encode("latin-1") + RESPONSE)
            return
        if mode == "text":
            status, kind, payload = 500, "text/plain; charset=utf-8", echoed
        else:
            text = echoed.decode("utf-8", "replace")
            payload = _fault(escape(text) if mode == "fault-escaped" else text)
            status, kind = 500, "text/xml; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    echo: EchoServer
    context: ssl.SSLContext

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        sock.settimeout(10)
        return self.context.wrap_socket(sock, server_side=True), address


class EchoServer:
    def __init__(self, context: ssl.SSLContext, mode: str = "text") -> None:
        self.mode = mode
        self.requests = 0
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.echo = self
        self._httpd.context = context
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/ledger"

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)
