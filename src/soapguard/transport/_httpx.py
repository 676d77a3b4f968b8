"""httpx/httpcore glue for the async transport: evidence, connection hygiene, per-endpoint slots.

Nothing here replaces httpx's transport layer: requests still go through
``httpx.AsyncHTTPTransport.handle_async_request`` (which is what pytest-httpx patches)
and httpcore's own connection pool (which is what respx patches).  soapguard adds
four things around them:

* a **network backend** in place of httpcore's own (:mod:`._aionet`: the same job on
  asyncio's transports, without anyio's per-read costs), whose connections tell an
  observer what they do; the observer here writes it (the connection, its TLS facts,
  the bytes of the request written, a write that raised) into the attempt being sent
  (:func:`~soapguard.transport.evidence.being_sent`), exactly as the sync transport's
  instrumented urllib3 connections do;
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
from collections.abc import Mapping
from typing import Any

import httpcore
import httpx

from .._urls import origin
from ..tls import context as tls
from ._aionet import AsyncioBackend, StreamObserver
from .evidence import Attempt, ConnInfo, being_sent

__all__ = ["EndpointSlots", "instrument", "tracer"]


class _Evidence(StreamObserver):
    """Writes what one connection does into the attempt being sent (see the module doc)."""

    def __init__(self, host: str, port: int, max_age: float | None) -> None:
        self.info = info = ConnInfo(host=host, port=port)
        self.retire_at: float | None = None
        if max_age is not None:  # +-10% jitter, so connections do not all retire at once
            self.retire_at = info.created_at + max_age * random.uniform(0.9, 1.1)
        attempt = being_sent()
        if attempt is not None:  # a connect that fails keeps its evidence
            attempt.conn = info
            attempt.reused_connection = False

    def connected(self, peer: Any) -> None:
        with contextlib.suppress(Exception):
            self.info.peer_address = str(peer[0]) if peer else None

    def writing(self) -> Attempt | None:
        attempt = being_sent()
        if attempt is None or attempt.phase != "send":  # e.g. a CONNECT to a proxy
            return None
        if attempt.bytes_sent == 0 and not attempt.send_interrupted:  # this request's first
            info = self.info
            attempt.conn = info
            attempt.reused_connection = reused = info.requests > 0
            now = time.monotonic()
            attempt.connection_age = now - info.created_at
            if reused and info.idle_since is not None:
                attempt.idle_before = now - info.idle_since
            info.requests += 1
        return attempt

    def wrote(self, token: Attempt | None, size: int) -> None:
        if token is not None:
            token.bytes_sent += size

    def write_failed(self, token: Attempt | None) -> None:
        if token is not None:
            token.send_interrupted = True  # some of it may have left

    def read(self) -> None:
        # the last read of a response is when the connection went idle (httpcore pools it then)
        self.info.idle_since = time.monotonic()

    def secured(self, ssl_object: ssl.SSLObject) -> None:
        with contextlib.suppress(Exception):  # evidence gathering must never break a connection
            tls.describe_connection(ssl_object, self.info)

    def expired(self) -> bool:
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


def request_headers(
    defaults: httpx.Headers, given: Mapping[str, str], url: httpx.URL, length: int
) -> list[tuple[bytes, bytes]]:
    """The headers ``httpx.Request("POST", url, headers=merged, content=<length bytes>)``
    would send, where ``merged`` is ``defaults`` (a client's) updated with ``given``.

    Built in one pass, instead of the three header copies and the content-type and
    encoding look-ups that way costs.  Values are encoded as httpx encodes them (ASCII).
    """
    given_names = {name.lower().encode("ascii") for name in given}
    items = [(name, value) for name, value in defaults.raw if name.lower() not in given_names]
    items.extend((name.encode("ascii"), value.encode("ascii")) for name, value in given.items())
    names = given_names | {name.lower() for name, _ in defaults.raw}
    auto = []
    if b"host" not in names and url.host:
        auto.append((b"Host", url.netloc))
    if b"content-length" not in names:
        if length:
            items.append((b"Content-Length", str(length).encode("ascii")))
        elif b"transfer-encoding" not in names:
            auto.append((b"Content-Length", b"0"))
    return auto + items


def instrument(transport: httpx.AsyncHTTPTransport, max_age: float | None) -> bool:
    """Give ``transport``'s connection pool soapguard's instrumented network backend.

    Returns False (and leaves the transport as it is) when its pool is not the httpcore
    pool soapguard knows, e.g. a SOCKS proxy or another httpx layout.
    """
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool) or backend is None:
        return False
    if not isinstance(backend, AsyncioBackend):
        pool._network_backend = AsyncioBackend(
            backend, lambda host, port: _Evidence(host, port, max_age)
        )
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
        self._keys: dict[str, tuple[str, int | None]] = {}

    def _key(self, url: str) -> tuple[str, int | None]:
        key = self._keys.get(url)
        if key is None:
            target = origin(url)
            key = (f"{target.scheme}://{target.host}", target.port)
            if len(self._keys) < 256:
                self._keys[url] = key
        return key

    async def acquire(self, url: str, timeout: float | None) -> asyncio.Semaphore:
        """Take one of ``url``'s endpoint slots and return its semaphore (the caller
        releases it); raise ``httpx.PoolTimeout`` when none is free within ``timeout``."""
        key = self._key(url)
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
                    f"no connection to {origin(url)} became free within {timeout:g}s "
                    f"(SOAPGUARD_POOL_MAXSIZE={self.size} in use)"
                ) from None
        else:
            await semaphore.acquire()
        return semaphore
