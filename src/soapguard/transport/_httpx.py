"""httpx/httpcore glue for the async transport: evidence, connection hygiene, per-endpoint slots.

Nothing here replaces httpx's transport layer: requests still go through
``httpx.AsyncHTTPTransport.handle_async_request`` (which is what pytest-httpx patches)
and httpcore's own connection pool (which is what respx patches).  soapguard adds
three things around them:

* a **network backend** wrapping httpcore's own: its streams write what they observe
  (the connection, its TLS facts, the bytes of the request written, a write that
  raised) into the attempt being sent (:func:`~soapguard.transport.evidence.being_sent`),
  exactly as the sync transport's instrumented urllib3 connections do;
* a **trace** callback (httpcore's ``trace`` request extension), bound explicitly to
  one attempt, that records the phases: connecting, handshake, sending, waiting,
  receiving, and when the request was written completely;
* **connection hygiene** httpcore lacks: a connection older than
  ``SOAPGUARD_POOL_MAX_AGE`` is retired once its current request ends, and a retry
  never reuses a pooled connection to its endpoint.  Both work through the one
  question httpcore asks a stream before it reuses an idle connection ("has the
  server closed it?", ``get_extra_info("is_readable")``): answering yes makes httpcore
  close that idle connection itself.  httpcore asks only about idle connections, so
  another task's active connection is never touched (``aclose()`` on the pool would);
* **per-endpoint slots**: httpx's ``max_connections`` is per client; at most
  ``SOAPGUARD_POOL_MAXSIZE`` requests (hence connections) run per endpoint, and a
  caller beyond it waits, within the connect timeout, then fails with ``timeout.pool``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
import typing
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore
import httpx

from .._urls import origin
from ..tls import context as tls
from .evidence import Attempt, ConnInfo, being_sent

__all__ = ["EndpointSlots", "instrument", "tracer"]

#: httpcore's socket option type (not exported under one name across its versions)
SocketOption = Any


class _Stream(httpcore.AsyncNetworkStream):
    """A network stream that writes what it observes into the attempt being sent."""

    def __init__(
        self, stream: httpcore.AsyncNetworkStream, info: ConnInfo, retire_at: float | None
    ) -> None:
        self._stream = stream
        self.info = info
        self.retire_at = retire_at

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._stream.read(max_bytes, timeout)
        # the last read of a response is when the connection went idle (httpcore pools it then)
        self.info.idle_since = time.monotonic()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        attempt = being_sent()
        if attempt is None or attempt.phase != "send":  # e.g. a CONNECT to a proxy
            await self._stream.write(buffer, timeout)
            return
        if attempt.bytes_sent == 0 and not attempt.send_interrupted:  # this request's first
            info = self.info
            attempt.conn = info
            attempt.reused_connection = reused = info.requests > 0
            now = time.monotonic()
            attempt.connection_age = now - info.created_at
            if reused and info.idle_since is not None:
                attempt.idle_before = now - info.idle_since
            info.requests += 1
        try:
            await self._stream.write(buffer, timeout)
        except BaseException:
            attempt.send_interrupted = True  # some of it may have left
            raise
        attempt.bytes_sent += len(buffer)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        ssl_object = inner.get_extra_info("ssl_object")
        if isinstance(ssl_object, ssl.SSLObject):
            # evidence gathering must never break a connection
            with contextlib.suppress(Exception):
                tls.describe_connection(ssl_object, self.info)
        return _Stream(inner, self.info, self.retire_at)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._retired():
            return True  # httpcore closes this idle connection instead of reusing it
        return self._stream.get_extra_info(info)

    def _retired(self) -> bool:
        if self.retire_at is not None and time.monotonic() >= self.retire_at:
            return True
        # A retry runs on a fresh connection: while it looks for one (it has none yet), the
        # endpoint's idle connections are closed.  Once it has its own, it keeps it, and it
        # leaves it pooled when its response ends.
        attempt = being_sent()
        if attempt is None or attempt.number < 2 or attempt.conn is not None:
            return False
        target = origin(attempt.endpoint)
        return (target.host, target.port) == (self.info.host.lower(), self.info.port)


class _Backend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, handing out instrumented streams."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend, max_age: float | None) -> None:
        self._backend = backend
        self._max_age = max_age

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        info = ConnInfo(host=host, port=port)
        attempt = being_sent()
        if attempt is not None:
            attempt.conn = info
            attempt.reused_connection = False
        stream = await self._backend.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        with contextlib.suppress(Exception):
            peer = stream.get_extra_info("server_addr")
            info.peer_address = str(peer[0]) if peer else None
        retire_at = None
        if self._max_age is not None:  # +-10% jitter, so connections do not all retire at once
            retire_at = info.created_at + self._max_age * random.uniform(0.9, 1.1)
        return _Stream(stream, info, retire_at)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._backend.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def instrument(transport: httpx.AsyncHTTPTransport, max_age: float | None) -> bool:
    """Give ``transport``'s connection pool soapguard's instrumented network backend.

    Returns False (and leaves the transport as it is) when its pool is not the httpcore
    pool soapguard knows, e.g. a SOCKS proxy or another httpx layout.
    """
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool) or backend is None:
        return False
    if not isinstance(backend, _Backend):
        pool._network_backend = _Backend(backend, max_age)
    return True


def tracer(attempt: Attempt) -> typing.Callable[[str, dict[str, Any]], typing.Awaitable[None]]:
    """httpcore's ``trace`` extension for one attempt: the phases it went through."""

    async def trace(event: str, info: dict[str, Any]) -> None:
        name = event.partition(".")[2]
        if name == "connect_tcp.started":
            attempt.phase = "connect"
        elif name == "start_tls.started":
            attempt.phase = "handshake"
        elif name == "send_request_headers.started":
            attempt.phase = "send"
        elif name == "send_request_body.complete":
            attempt.request_complete = True
            attempt.phase = "wait"
        elif name == "receive_response_headers.complete":
            attempt.response_started = True
            attempt.phase = "receive"
            with contextlib.suppress(Exception):
                attempt.status = int(info["return_value"][1])
        elif name == "response_closed.complete" and attempt.conn is not None:
            attempt.conn.idle_since = time.monotonic()

    return trace


class EndpointSlots:
    """At most ``size`` requests at a time per endpoint; callers beyond it wait in line.

    One semaphore per (event loop, endpoint): asyncio primitives belong to one loop.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots: dict[tuple[str, int | None], tuple[object, asyncio.Semaphore]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, url: str, timeout: float | None) -> AsyncIterator[None]:
        """Hold one of ``url``'s endpoint slots; raise ``httpx.PoolTimeout`` after ``timeout``."""
        target = origin(url)
        key = (f"{target.scheme}://{target.host}", target.port)
        loop = asyncio.get_running_loop()
        found = self._slots.get(key)
        if found is None or found[0] is not loop:
            found = (loop, asyncio.Semaphore(self.size))
            self._slots[key] = found
        semaphore = found[1]
        if semaphore.locked():
            try:
                await asyncio.wait_for(semaphore.acquire(), timeout)
            except asyncio.TimeoutError:
                raise httpx.PoolTimeout(
                    f"no connection to {target} became free within {timeout:g}s "
                    f"(SOAPGUARD_POOL_MAXSIZE={self.size} in use)"
                ) from None
        else:
            await semaphore.acquire()
        try:
            yield
        finally:
            semaphore.release()
