"""A spyne SOAP 1.1 service over TLS on 127.0.0.1, for interop tests.

spyne is an independent SOAP stack: its WSDL (served at ``?wsdl``) and its
envelopes are not shaped by zeep or by our own ledger server, so calling it
shows that a client works with a foreign implementation.  Served by stdlib
``wsgiref`` in daemon threads, with the same per-connection TLS handling and
prompt stop as the ledger server.
"""

from __future__ import annotations

import logging
import threading
import zlib
from decimal import Decimal
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from spyne import Application, ServiceBase, rpc
from spyne.model.primitive import Decimal as SpyneDecimal
from spyne.model.primitive import Unicode
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from soapguard.testing.ledger.http import TrackingServerMixin, server_context

logger = logging.getLogger(__name__)

TNS = "urn:soapguard:spyne"


def balance_of(account: str) -> Decimal:
    """The made-up balance the service answers for ``account``."""
    return Decimal(zlib.crc32(account.encode("utf-8")) % 100_000_000).scaleb(-2)


class LedgerLite(ServiceBase):  # type: ignore[misc]
    @rpc(Unicode, _returns=SpyneDecimal)  # type: ignore[untyped-decorator]
    def GetBalance(ctx: Any, account: str) -> Decimal:
        return balance_of(account)

    @rpc(Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
    def Echo(ctx: Any, text: str) -> str:
        return text


def make_app() -> WsgiApplication:
    app = Application(
        [LedgerLite],
        tns=TNS,
        name="LedgerLite",
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )
    return WsgiApplication(app)


class _Handler(WSGIRequestHandler):
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class _Server(TrackingServerMixin, WSGIServer):
    pass


class SpyneServer:
    """``SpyneServer(certfile, keyfile)``: start()/stop() or ``with``; ``url``, ``wsdl_url``."""

    def __init__(self, certfile: str, keyfile: str, *, lifetime: float = 600.0) -> None:
        self._context = server_context(certfile, keyfile)
        self._lifetime = lifetime
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stop_lock = threading.Lock()

    def start(self) -> SpyneServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.ssl_context = self._context
        server.init_tracking()
        server.base_environ["HTTPS"] = "on"  # so spyne writes https:// into its WSDL
        server.set_app(make_app())
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._timer = threading.Timer(self._lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._stop_lock:
            server, self._server = self._server, None
        if server is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)

    def __enter__(self) -> SpyneServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/spyne"

    @property
    def wsdl_url(self) -> str:
        return self.url + "?wsdl"
