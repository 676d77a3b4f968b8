"""An embedded "ledger" SOAP service for tests and the demo (stdlib + lxml only).

:class:`LedgerServer` serves ``wsdl/ledger.wsdl`` (or the SOAP 1.2 variant) over
HTTP/1.1 with keep-alive, optionally TLS, on 127.0.0.1.  It counts what it
executes, so tests can prove that a retried non-idempotent call ran once, and
it can answer the next POSTs with an HTTP error (:meth:`LedgerServer.fail_next`).

Served paths: ``POST /ledger`` (SOAP 1.1 or 1.2, answered in the request's
version), ``GET /ledger?wsdl`` (the WSDL with its address rewritten to
:attr:`LedgerServer.url`), and ``GET /<file>`` for the other files of the WSDL
directory (``ledger-types.xsd``, ``ledger-imported.wsdl``, ...).

The demo certificate and key (:data:`DEMO_CERT_FILE`, :data:`DEMO_KEY_FILE`,
CA :data:`DEMO_CA_FILE`) are **public**: they ship inside the package, so anyone
can impersonate a server with them.  Use them for loopback demos only and never
add :data:`DEMO_CA_FILE` to a trust store.  The same goes for the demo client
certificate of mutual-TLS demos (``DEMO_CLIENT_*``, password ``soapguard-demo``).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from . import soap  # noqa: F401 - ``from soapguard.testing.ledger import soap`` stays valid
from .handler import PATH, Framing, LedgerHTTPServer
from .http import server_context
from .state import LedgerState

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "DEMO_CA_FILE",
    "DEMO_CERT_FILE",
    "DEMO_CLIENT_CA_FILE",
    "DEMO_CLIENT_CERT_FILE",
    "DEMO_CLIENT_KEY_FILE",
    "DEMO_CLIENT_P12_FILE",
    "DEMO_CLIENT_PASSWORD",
    "DEMO_KEY_FILE",
    "LedgerServer",
    "wsdl_dir",
]

logger = logging.getLogger(__name__)

_DATA = resources.files("soapguard").joinpath("_data")
#: PUBLIC demo CA certificate (loopback demos only)
DEMO_CA_FILE = str(_DATA.joinpath("demo-ca.pem"))
#: PUBLIC demo server certificate chain for ``localhost`` and ``127.0.0.1``
DEMO_CERT_FILE = str(_DATA.joinpath("demo-cert.pem"))
#: PUBLIC demo server private key (loopback demos only)
DEMO_KEY_FILE = str(_DATA.joinpath("demo-key.pem"))
#: PUBLIC CA of the demo client certificate: what a mutual-TLS demo server trusts
DEMO_CLIENT_CA_FILE = str(_DATA.joinpath("demo-client-ca.pem"))
#: PUBLIC demo client certificate, its key encrypted with :data:`DEMO_CLIENT_PASSWORD`
DEMO_CLIENT_CERT_FILE = str(_DATA.joinpath("demo-client.pem"))
DEMO_CLIENT_KEY_FILE = str(_DATA.joinpath("demo-client-key.pem"))
#: the same certificate and key as one PKCS#12 file, under the same password
DEMO_CLIENT_P12_FILE = str(_DATA.joinpath("demo-client.p12"))
#: PUBLIC password of the demo client key and PKCS#12 file
DEMO_CLIENT_PASSWORD = "soapguard-demo"  # noqa: S105 - public by design, like the key

_SOURCE_WSDL_DIR = Path(__file__).resolve().parents[4] / "wsdl"


def wsdl_dir(packaged: Traversable | None = None, source: Path = _SOURCE_WSDL_DIR) -> Path:
    """Where the ledger WSDL files are: in the installed package, else in the source tree.

    ``packaged`` defaults to ``soapguard/_data/wsdl`` (put there by the wheel build).
    """
    if packaged is None:
        packaged = _DATA.joinpath("wsdl")
    for candidate in (packaged, source):
        if candidate.is_dir() and candidate.joinpath("ledger.wsdl").is_file():
            return Path(str(candidate))
    raise FileNotFoundError(f"ledger WSDL files found neither in {packaged} nor in {source}")


class LedgerServer:
    """A small, real SOAP server: document/literal ledger operations over HTTP(S).

    ``certfile``/``keyfile`` (or a ready ``ssl_context``) enable TLS; without
    either it speaks plain HTTP.  ``client_ca`` (a CA file, with ``certfile``)
    requires mutual TLS: a client must present a certificate that CA issued, and
    :attr:`client_subjects` lists those seen.  ``soap12`` selects which WSDL ``?wsdl``
    returns (the endpoint answers both versions).  A keep-alive connection idle
    for ``idle_timeout`` seconds is closed (without a TLS close_notify), as real
    servers do.  The server stops by itself after ``lifetime`` seconds.  Counters
    are thread-safe.
    """

    def __init__(
        self,
        certfile: str | None = None,
        keyfile: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        soap12: bool = False,
        lifetime: float = 600.0,
        client_ca: str | None = None,
        idle_timeout: float = 30.0,
    ) -> None:
        if keyfile is not None and certfile is None:
            raise ValueError("keyfile given without certfile")
        if client_ca is not None and (ssl_context is not None or certfile is None):
            raise ValueError("client_ca needs certfile (and no ssl_context: configure your own)")
        if ssl_context is None and certfile is not None:
            ssl_context = server_context(certfile, keyfile)
            if client_ca is not None:  # mutual TLS: a client without a certificate is refused
                ssl_context.load_verify_locations(cafile=client_ca)
                ssl_context.verify_mode = ssl.CERT_REQUIRED
        self._ssl_context = ssl_context
        self._host = host
        self._requested_port = port
        self._lifetime = lifetime
        self._idle_timeout = idle_timeout
        self._state = LedgerState(wsdl_dir(), "ledger-soap12.wsdl" if soap12 else "ledger.wsdl")
        self._lock = threading.Lock()
        self._httpd: LedgerHTTPServer | None = None
        self._stopped = False
        self._stopped_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @classmethod
    def demo(
        cls, *, port: int = 0, soap12: bool = False, lifetime: float = 600.0, mtls: bool = False
    ) -> LedgerServer:
        """A 127.0.0.1 server with the PUBLIC demo certificate; clients trust DEMO_CA_FILE.

        With ``mtls`` it also requires a client certificate from DEMO_CLIENT_CA_FILE
        (the PUBLIC demo client certificate is one).
        """
        return cls(
            DEMO_CERT_FILE,
            DEMO_KEY_FILE,
            port=port,
            soap12=soap12,
            lifetime=lifetime,
            client_ca=DEMO_CLIENT_CA_FILE if mtls else None,
        )

    # lifecycle -----------------------------------------------------------

    def start(self) -> LedgerServer:
        """Bind, start serving in a daemon thread and return ``self``."""
        with self._lock:
            if self._httpd is not None:
                raise RuntimeError("a LedgerServer can be started only once")
            httpd = LedgerHTTPServer((self._host, self._requested_port), self._state,
                                     self._ssl_context, self._idle_timeout)  # fmt: skip
            self._httpd = httpd
        self._state.publish(self.url)
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name=f"LedgerServer-{self.port}",
        )  # fmt: skip
        self._thread.start()
        self._timer = threading.Timer(self._lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        logger.debug("ledger server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection and wait for the threads. Idempotent."""
        with self._lock:
            httpd = self._httpd
            if httpd is None or self._stopped:
                return
            self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
        self._stopped_event.set()
        logger.debug("ledger server on port %d stopped", self.port)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped (by stop() or its lifetime); False on timeout."""
        return self._stopped_event.wait(timeout)

    def __enter__(self) -> LedgerServer:
        return self if self._httpd is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # addresses -----------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``https://localhost:PORT/ledger`` (``http://`` without TLS)."""
        scheme = "https" if self._ssl_context is not None else "http"
        host = "localhost" if self._host in ("127.0.0.1", "localhost") else self._host
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}{PATH}"

    @property
    def wsdl_url(self) -> str:
        return self.url + "?wsdl"

    # observations and fault injection -------------------------------------

    def executions(self, request_id: str) -> int:
        """How many times an operation carrying ``requestId`` was executed."""
        with self._state.lock:
            return self._state.by_request_id[request_id]

    def executions_total(self, operation: str | None = None) -> int:
        """Operations executed in all, or of one ``operation`` (faulting Reject included)."""
        with self._state.lock:
            counts = self._state.by_operation
            return sum(counts.values()) if operation is None else counts[operation]

    @property
    def message_ids(self) -> list[str | None]:
        """WS-Addressing MessageIDs of the parsed SOAP POSTs, in order (None: none sent)."""
        with self._state.lock:
            return list(self._state.message_ids)

    @property
    def nonces(self) -> list[str]:
        """WS-Security UsernameToken nonces of all fully received POSTs, in order."""
        with self._state.lock:
            return list(self._state.nonces)

    @property
    def requests_seen(self) -> int:
        """SOAP POSTs fully received, including those answered by :meth:`fail_next`."""
        with self._state.lock:
            return self._state.requests_seen

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers of the most recent SOAP POSTs (at most 1000), oldest first, as received."""
        with self._state.lock:
            return list(self._state.request_headers)

    @property
    def client_subjects(self) -> list[dict[str, str]]:
        """Subjects (``{"commonName": ...}``) of the client certificates presented, in order."""
        return self._httpd.seen_clients() if self._httpd is not None else []

    @property
    def connections_seen(self) -> int:
        """TCP connections accepted so far (a retry on a fresh connection adds one)."""
        return self._httpd.connections_accepted if self._httpd is not None else 0

    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        body: bytes = b"Service Unavailable",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` POSTs with ``status`` (text/plain) without executing them.

        ``retry_after`` is sent as a ``Retry-After`` header in seconds; a
        fractional value is sent as is (not RFC-conformant, keeps tests fast).
        ``headers`` are added to the reply (e.g. a ``Location`` for a redirect).
        """
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        if times < 1:
            raise ValueError("times must be at least 1")
        reply_headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
        if retry_after is not None:
            reply_headers["Retry-After"] = f"{retry_after:g}"
        with self._state.lock:
            self._state.injected.extend([(status, reply_headers, body)] * times)

    def frame_next(self, framing: Framing, times: int = 1) -> None:
        """Frame the answers to the next ``times`` POSTs ``chunked`` or ``close``-delimited.

        ``close``: no ``Content-Length``; the body ends when the server closes the
        connection, without a TLS close_notify.  Faults injected with :meth:`fail_next`
        are framed the same way.
        """
        if framing not in ("length", "chunked", "close"):
            raise ValueError(f"framing must be length, chunked or close, got {framing!r}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._state.lock:
            self._state.framings.extend([framing] * times)
