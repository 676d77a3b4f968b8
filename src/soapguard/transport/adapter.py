"""requests/urllib3 glue: one SSL context per Config, instrumented connections, fork-safe pools.

:class:`SoapGuardAdapter` is a ``requests.adapters.HTTPAdapter`` that

* hands urllib3 the SSL context built once per :class:`~soapguard.Config`
  (requests would otherwise make urllib3 re-read the CA bundle on every new
  connection, 20-40 ms each), verifying with the CAs :mod:`soapguard.tls.trust`
  chose (requests would let ``REQUESTS_CA_BUNDLE`` replace the session's own);
* uses connection classes that record how far each request got (phase, bytes
  written, response started) and the TLS facts of the connection, into the
  attempt's :class:`~soapguard.transport.evidence.Attempt`, and that check the
  pinned keys (:mod:`soapguard.tls.pins`) before a request byte is written;
* keeps urllib3's own retries off (soapguard decides about retries);
* drops its pools in a child process after ``fork()``, so a pooled connection
  is never used by two processes;
* can drop one host's idle connections so a retry runs on a fresh connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import weakref
from typing import Any

from requests import PreparedRequest
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util import Retry, parse_url

from .._urls import origin
from ..config import Config
from ..tls import context as tls
from ..tls import pins
from ..tls.trust import SessionTrust
from .evidence import ConnInfo, being_sent

logger = logging.getLogger(__name__)

#: urllib3 must never retry on its own: a hidden retry could replay a write.  ``read=False``
#: re-raises read errors as they are (as requests' default does), so a read timeout stays a
#: ``requests.ReadTimeout`` instead of a ``ConnectionError(MaxRetryError(...))``.
NO_RETRIES = Retry(
    total=0, connect=0, read=False, redirect=0, status=0, other=0, raise_on_redirect=False
)


class _Instrumented:
    """Mixin for urllib3 connections: writes progress and TLS facts as they happen."""

    sock: Any
    host: str
    port: int
    _sg_info: ConnInfo | None = None

    def _new_conn(self) -> Any:
        progress = being_sent()
        info = ConnInfo(host=self.host, port=self.port)
        context = getattr(self, "ssl_context", None)
        if isinstance(context, ssl.SSLContext):  # known before the handshake that may fail
            info.security_level = context.security_level
        self._sg_info = info
        if progress is not None:
            progress.phase = "connect"
            progress.conn = info
            progress.reused_connection = False
        sock = super()._new_conn()  # type: ignore[misc]
        with contextlib.suppress(OSError):
            info.peer_address = sock.getpeername()[0]
        if progress is not None:
            progress.phase = "handshake"
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        info = self._sg_info
        if info is not None and isinstance(self.sock, ssl.SSLSocket):
            tls.describe_connection(self.sock, info)
        tls_object = _tls_object(self.sock)
        if tls_object is not None:
            try:
                pins.check(tls_object, info)  # before any request byte
            except pins.PinMismatch:
                # the socket only: urllib3's close() would also forget that a proxy tunnel
                # was open and report the mismatch as a proxy failure
                self.sock.close()
                raise
        progress = being_sent()
        if progress is not None:
            progress.phase = "send"

    def request(self, *args: Any, **kwargs: Any) -> None:
        progress = being_sent()
        info = self._sg_info
        if info is not None:
            if progress is not None:
                progress.conn = info
                progress.reused_connection = info.requests > 0
            info.requests += 1
        if progress is not None:
            progress.phase = "send"
        super().request(*args, **kwargs)  # type: ignore[misc]
        if progress is not None:
            progress.request_complete = True
            progress.phase = "wait"

    def send(self, data: Any) -> None:
        progress = being_sent()
        try:
            super().send(data)  # type: ignore[misc]
        except BaseException:
            if progress is not None and progress.phase == "send":
                progress.send_interrupted = True
            raise
        # Only bytes of the request itself count: a CONNECT to an HTTPS proxy is also written
        # with send(), during the connect phase, and none of it reaches the server.
        if (
            progress is not None
            and progress.phase == "send"
            and isinstance(data, bytes | bytearray | memoryview)
        ):
            progress.bytes_sent += len(data)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        response = super().getresponse(*args, **kwargs)  # type: ignore[misc]
        progress = being_sent()
        if progress is not None:
            progress.response_started = True
            progress.phase = "receive"
            progress.status = response.status
            progress.response_headers = response.headers  # case-insensitive, no copy
        return response


def _tls_object(sock: Any) -> ssl.SSLSocket | ssl.SSLObject | None:
    """The TLS end of a connection's socket: an ``SSLSocket``, or the ``SSLObject`` of
    urllib3's TLS-in-TLS transport (through an HTTPS proxy); None for plain HTTP."""
    if isinstance(sock, ssl.SSLSocket):
        return sock
    inner = getattr(sock, "sslobj", None)
    return inner if isinstance(inner, ssl.SSLObject) else None


class _HTTPConnection(_Instrumented, HTTPConnection):
    pass


class _HTTPSConnection(_Instrumented, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES = {"http": _HTTPPool, "https": _HTTPSPool}

# every live adapter, so a fork handler can reset their pools in the child
_ADAPTERS: weakref.WeakSet[SoapGuardAdapter] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for adapter in list(_ADAPTERS):
        adapter.reset_pools()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)


class SoapGuardAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` with soapguard's TLS context, instrumentation and pool hygiene."""

    def __init__(
        self,
        config: Config,
        *,
        pool_connections: int = 10,
        pool_maxsize: int = 10,
        trust: SessionTrust | None = None,
    ):
        self.sg_config = config
        self.trust = trust if trust is not None else SessionTrust(config)
        self.ssl_context = self.trust.default_context
        self._pid = os.getpid()
        self._sizes = (pool_connections, pool_maxsize)
        super().__init__(
            pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=NO_RETRIES
        )
        _ADAPTERS.add(self)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(
            connections, maxsize, block=block, ssl_context=self.ssl_context, **pool_kwargs
        )
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        if proxy in self.proxy_manager:
            cached: PoolManager = self.proxy_manager[proxy]
            return cached
        manager: PoolManager = super().proxy_manager_for(
            proxy, ssl_context=self.ssl_context, **proxy_kwargs
        )
        manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """Certificates are the SSL context's business; never touch the pool's CA settings."""

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: bool | str | None, cert: Any = None
    ) -> tuple[Any, Any]:
        url = parse_url(request.url or "")
        host_params = {"scheme": (url.scheme or "http").lower(), "host": url.host, "port": url.port}
        pool_kwargs: dict[str, Any] = {}
        if host_params["scheme"] != "https":
            return host_params, pool_kwargs
        trust, context = self.trust.current(verify)
        if trust.verify is False:
            pool_kwargs["ssl_context"] = context
            pool_kwargs["cert_reqs"] = "CERT_NONE"
        elif context is not self.ssl_context:  # code changed session.verify after building
            pool_kwargs["ssl_context"] = context
        if cert is not None:
            logger.warning("per-request client certificates are ignored; use SOAPGUARD_CLIENT_CERT")
        return host_params, pool_kwargs

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        if os.getpid() != self._pid:  # fork without register_at_fork, belt and braces
            self.reset_pools()
        # A CA path code set on the session after the transport was built is loaded here, so
        # a bad one raises its ConfigError as it is (requests would turn it into InvalidURL).
        self.trust.current(kwargs.get("verify", True))
        return super().send(request, *args, **kwargs)

    def reset_pools(self) -> None:
        """Forget every pooled connection (after fork: the sockets belong to the parent).

        The old pools are dropped, not closed: in the child, closing would only
        release our copy of the descriptor, and nothing may be written on a
        socket the parent still uses.
        """
        self._pid = os.getpid()
        self.init_poolmanager(*self._sizes)
        self.proxy_manager = {}

    def drop_host(self, url: str) -> None:
        """Close the idle connections to ``url``'s origin so the next request opens a new one."""
        scheme, host, port = origin(url)
        for manager in (self.poolmanager, *self.proxy_manager.values()):
            # keys() is a locked snapshot; the container refuses plain iteration
            for key in manager.pools.keys():  # noqa: SIM118
                if (
                    key.key_scheme == scheme
                    and (key.key_host or "").lower() == host
                    and (key.key_port or port) == port
                ):
                    # Another thread (a concurrent retry, or urllib3 evicting the least
                    # recently used pool) may remove it between the snapshot and here.
                    # ``pools.pop(key, None)`` is no help: it looks up, then deletes.
                    with contextlib.suppress(KeyError):
                        del manager.pools[key]  # disposing closes the pool's connections
