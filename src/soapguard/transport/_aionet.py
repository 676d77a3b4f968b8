"""httpcore's network layer on asyncio's own transports: TCP and TLS streams, no anyio.

httpcore (the connection pool and HTTP/1.1 machine under httpx) reaches the network
through a *network backend* (``network_backend=`` of its pools).  On asyncio its own is
anyio's stream stack, which costs a kept-alive SOAP call more than soapguard does: a
cancel scope around every read and write, a trip through the event loop at each of them
(anyio's checkpoints), reading paused and resumed around every read (two epoll changes),
and a dict of attribute getters rebuilt on every ``get_extra_info`` (httpcore asks one
before it reuses a connection).  These streams do the same job directly on asyncio's
transports: a read returns at once when data is already buffered, a timeout is one timer
handle, and TLS runs over ``ssl.MemoryBIO`` as anyio's does.  Nothing above the socket
changes: requests still go through httpx's transport and httpcore's pool.

Failures look as they do with anyio's streams (as httpcore uses them, without TLS
closing handshakes), so httpx and soapguard's classifier see the same root exceptions:

* a read returns ``b""`` at end of stream, also when the peer closed without a TLS
  ``close_notify`` (h11 then says whether the response was complete);
* an ``OSError`` on the socket, or ``ssl.SSLSyscallError``, raises httpcore's
  ``ReadError`` / ``WriteError`` (``ConnectError`` while connecting), chained to it;
* any other TLS error raises the ``ssl.SSLError`` itself (``ConnectError`` while
  connecting), as bare httpx does;
* timeouts raise ``ReadTimeout`` / ``WriteTimeout`` / ``ConnectTimeout``;
* closing aborts the connection (no ``close_notify``).

What happens on a connection is told to its :class:`StreamObserver` by plain method calls
(no coroutine of their own per read and write); soapguard's observer, which turns it into
evidence, is in :mod:`._httpx`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore

from ._aiosocket import Protocol
from ._aiostream import NOBODY, Stream, StreamObserver

__all__ = ["AsyncioBackend", "StreamObserver"]

#: RFC 8305's connection attempt delay (anyio uses it too)
_HAPPY_EYEBALLS_DELAY = 0.25


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on asyncio's transports.

    ``observe(host, port)`` gives each new connection's observer, before it connects.
    ``fallback`` (httpcore's own backend) serves an event loop that is not asyncio's.
    """

    def __init__(
        self,
        fallback: httpcore.AsyncNetworkBackend,
        observe: Callable[[str, int], StreamObserver] | None = None,
    ) -> None:
        self.fallback = fallback
        self._observe = observe

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another event loop (trio)
            return await self.fallback.connect_tcp(
                host, port, timeout, local_address, socket_options
            )
        protocol = Protocol(loop)
        connecting = loop.create_connection(
            lambda: protocol,
            host,
            port,
            local_addr=(local_address, 0) if local_address else None,
            happy_eyeballs_delay=_HAPPY_EYEBALLS_DELAY,
        )
        return await self._connect(connecting, protocol, (host, port), timeout, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another event loop (trio)
            return await self.fallback.connect_unix_socket(path, timeout, socket_options)
        protocol = Protocol(loop)
        connecting = loop.create_unix_connection(lambda: protocol, path)
        return await self._connect(connecting, protocol, (path, 0), timeout, socket_options)

    async def _connect(
        self,
        connecting: Awaitable[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]],
        protocol: Protocol,
        where: tuple[str, int],
        timeout: float | None,
        socket_options: Iterable[Any] | None,
    ) -> httpcore.AsyncNetworkStream:
        observer = NOBODY if self._observe is None else self._observe(*where)
        try:
            transport, _ = await asyncio.wait_for(connecting, timeout)
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ConnectError(exc) from exc
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        observer.connected(transport.get_extra_info("peername"))
        return Stream(transport, protocol, observer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
