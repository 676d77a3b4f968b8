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
import collections
import re
import select
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpcore

__all__ = ["AsyncioBackend", "StreamObserver"]

T = TypeVar("T")

#: bytes buffered from the socket before reading pauses (as asyncio's own streams)
_READ_LIMIT = 256 * 1024
#: RFC 8305's connection attempt delay (anyio uses it too)
_HAPPY_EYEBALLS_DELAY = 0.25
#: a request head shorter than this that announces a body waits for the body's first write
_HOLD_LIMIT = 16384
_ANNOUNCES_BODY = re.compile(rb"\r\n(?:content-length:[ \t]*0*[1-9]|transfer-encoding:)", re.I)


class StreamObserver:
    """Told what one connection does.  Every method is a no-op here; the stream calls them
    synchronously, and they must not raise."""

    def connected(self, peer: Any) -> None:
        """The connection is up; ``peer`` is the socket's peer address."""

    def writing(self) -> Any:
        """A write is about to start; its result goes to :meth:`wrote` / :meth:`write_failed`."""
        return None

    def wrote(self, token: Any, size: int) -> None:
        """The kernel took all ``size`` bytes of the write."""

    def write_failed(self, token: Any) -> None:
        """The write raised: some of its bytes may have left."""

    def read(self) -> None:
        """A read returned (or raised)."""

    def secured(self, ssl_object: ssl.SSLObject) -> None:
        """The TLS handshake completed."""

    def expired(self) -> bool:
        """Whether this idle connection must not be reused (httpcore then closes it)."""
        return False


_NOBODY = StreamObserver()


class _Deadline(TimeoutError):
    """A read, write or handshake ran out of its time (not ETIMEDOUT from the kernel, which
    is a broken connection)."""


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(_Deadline())


def readable(sock: Any) -> bool:
    """Whether ``sock`` has data (or end of stream) waiting, without blocking."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])  # pragma: no cover - Windows


def _holdable(data: bytes) -> bool:
    """Whether ``data`` is a short, whole HTTP/1.1 message head that says a body follows."""
    return (
        len(data) < _HOLD_LIMIT
        and data.endswith(b"\r\n\r\n")
        and _ANNOUNCES_BODY.search(data) is not None
    )


def _write_error(exc: BaseException) -> BaseException:
    """httpcore's exception for a write that raised ``exc`` (``exc`` itself if it has none)."""
    mapped: BaseException
    if isinstance(exc, _Deadline):
        mapped = httpcore.WriteTimeout(exc)
    elif isinstance(exc, EOFError | ssl.SSLSyscallError) or (
        isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError)
    ):
        mapped = httpcore.WriteError(exc)
    else:
        return exc
    mapped.__cause__ = exc
    return mapped


class _Protocol(asyncio.Protocol):
    """Buffers what the socket delivers; wakes the task waiting on the connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        self.reading_paused = False
        self.writable = True
        self.waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(0)  # a write ends when the kernel has every byte

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _READ_LIMIT and not self.reading_paused and self.transport:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return True  # keep the transport open: closing is httpcore's decision

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self.writable = True
        self._wake()

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self, limit: int | None = None) -> bytes:
        """Buffered bytes, at most ``limit`` (there must be some)."""
        chunks = self.chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        if limit is not None and len(data) > limit:
            chunks.append(data[limit:])
            data = data[:limit]
        self.buffered = len(chunks[0]) if chunks else 0
        if self.reading_paused and self.buffered <= _READ_LIMIT // 2 and self.transport:
            self.transport.resume_reading()
            self.reading_paused = False
        return data

    async def wait(self, deadline: float | None) -> None:
        """Until data, end of stream, loss or room to write; _Deadline at ``deadline``."""
        loop = self.loop
        waiter: asyncio.Future[None] = loop.create_future()
        self.waiter = waiter
        timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    async def receive(self, limit: int | None, deadline: float | None) -> bytes:
        """Bytes from the socket; ``b""`` at end of stream; OSError when it broke."""
        while not self.chunks:
            if self.lost or self.eof:
                if self.error is not None:
                    raise self.error
                return b""
            await self.wait(deadline)
        return self.take(limit)

    async def send(self, data: bytes, deadline: float | None) -> None:
        """Hand ``data`` to the kernel; OSError when the connection is gone."""
        if self.lost or self.transport is None:
            raise self.error or ConnectionResetError("the connection was closed")
        self.transport.write(data)
        while not self.writable:
            await self.wait(deadline)
        if self.lost and self.error is not None:
            raise self.error


class _Stream(httpcore.AsyncNetworkStream):
    """One connection, plain TCP (before its TLS handshake, or ``http://``).

    A short request head that announces a body is held back and goes out with the body's
    first write (or before the next read), in one TLS record and one TCP segment, as
    ``http.client`` sends a small body with its head: h11 writes them separately.
    """

    def __init__(
        self, transport: asyncio.Transport, protocol: _Protocol, observer: StreamObserver
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._observer = observer
        #: a held request head and its observer token
        self._held: tuple[bytes, Any] | None = None

    def _deadline(self, timeout: float | None) -> float | None:
        return None if timeout is None else self._protocol.loop.time() + timeout

    async def _recv(self, limit: int, deadline: float | None) -> bytes:
        """Application bytes: EOFError for an end without ``close_notify`` (TLS only)."""
        protocol = self._protocol
        if protocol.chunks:  # already here: no trip through the event loop
            return protocol.take(limit)
        return await protocol.receive(limit, deadline)

    async def _transmit(self, data: bytes, deadline: float | None) -> None:
        await self._protocol.send(data, deadline)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = self._deadline(timeout)
        if self._held is not None:  # a head whose body never came: it goes now
            head, token = self._held
            self._held = None
            await self._send(head, token, deadline)
        try:
            data = await self._recv(max_bytes, deadline)
        except EOFError:
            data = b""
        except _Deadline as exc:
            raise httpcore.ReadTimeout(exc) from exc
        except ssl.SSLSyscallError as exc:
            raise httpcore.ReadError(exc) from exc
        except ssl.SSLError:
            raise
        except OSError as exc:
            raise httpcore.ReadError(exc) from exc
        self._observer.read()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        held = self._held
        if held is None:
            token = self._observer.writing()
            if _holdable(buffer):
                self._held = (buffer, token)
                return
        else:  # the body's first write: the head goes with it
            self._held = None
            token = held[1]
            buffer = held[0] + buffer
        await self._send(buffer, token, self._deadline(timeout))

    async def _send(self, data: bytes, token: Any, deadline: float | None) -> None:
        observer = self._observer
        try:
            await self._transmit(data, deadline)
        except BaseException as exc:
            observer.write_failed(token)
            mapped = _write_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        observer.wrote(token, len(data))

    async def aclose(self) -> None:
        self._held = None
        self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        ssl_object = ssl_context.wrap_bio(
            incoming, outgoing, server_side=False, server_hostname=server_hostname
        )
        stream = _TLSStream(self, ssl_object, incoming, outgoing)
        try:
            await stream.tls(ssl_object.do_handshake, self._deadline(timeout))
        except _Deadline as exc:
            self._transport.abort()
            raise httpcore.ConnectTimeout(exc) from exc
        except (OSError, EOFError) as exc:  # ssl.SSLError included
            self._transport.abort()
            raise httpcore.ConnectError(exc) from exc
        except BaseException:
            self._transport.abort()
            raise
        self._observer.secured(ssl_object)
        return stream

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "is_readable":
            protocol = self._protocol
            if protocol.chunks or protocol.eof or protocol.lost or transport.is_closing():
                return True
            return self._observer.expired() or readable(transport.get_extra_info("socket"))
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        return None


class _TLSStream(_Stream):
    """TLS over ``ssl.MemoryBIO`` on the connection of ``lower`` (TCP, or TLS to a proxy)."""

    def __init__(
        self,
        lower: _Stream,
        ssl_object: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
    ) -> None:
        super().__init__(lower._transport, lower._protocol, lower._observer)
        self._lower = lower
        self._plain = type(lower) is _Stream  # the record bytes are the socket's own
        self._ssl = ssl_object
        self._incoming = incoming
        self._outgoing = outgoing
        self._broken = False

    async def tls(self, step: Callable[[], T], deadline: float | None) -> T:
        """Run ``step`` (a method of the SSL object) to completion, moving records as it
        needs them.  Raises OSError (the connection broke), EOFError (the peer closed
        without ``close_notify``), ``ssl.SSLError`` or _Deadline."""
        if self._broken:
            raise ConnectionResetError("the TLS connection is broken")
        incoming, outgoing, protocol = self._incoming, self._outgoing, self._protocol
        while True:
            if self._plain and protocol.chunks:  # feed what already arrived: no WantRead
                incoming.write(protocol.take())
            try:
                result = step()
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    await self._flush(deadline)
                try:
                    data = await self._lower._recv(65536, deadline)
                except EOFError:
                    data = b""
                except OSError:
                    incoming.write_eof()
                    outgoing.write_eof()
                    raise
                if data:
                    incoming.write(data)
                else:
                    incoming.write_eof()
            except ssl.SSLWantWriteError:
                await self._flush(deadline)
            except ssl.SSLError as exc:  # SSLSyscallError included
                incoming.write_eof()
                outgoing.write_eof()
                if isinstance(exc, ssl.SSLEOFError) or "UNEXPECTED_EOF_WHILE_READING" in (
                    exc.strerror or ""
                ):
                    raise EOFError from None
                raise
            else:
                if outgoing.pending:
                    await self._flush(deadline)
                return result

    async def _flush(self, deadline: float | None) -> None:
        try:
            await self._lower._transmit(self._outgoing.read(), deadline)
        except BaseException:
            # the record's sequence number is spent: nothing sent after it can be read
            self._broken = True
            raise

    async def _recv(self, limit: int, deadline: float | None) -> bytes:
        return await self.tls(lambda: self._ssl.read(limit), deadline)

    async def _transmit(self, data: bytes, deadline: float | None) -> None:
        await self.tls(lambda: self._ssl.write(data), deadline)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._ssl
        return super().get_extra_info(info)


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
        protocol = _Protocol(loop)
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
        protocol = _Protocol(loop)
        connecting = loop.create_unix_connection(lambda: protocol, path)
        return await self._connect(connecting, protocol, (path, 0), timeout, socket_options)

    async def _connect(
        self,
        connecting: Awaitable[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]],
        protocol: _Protocol,
        where: tuple[str, int],
        timeout: float | None,
        socket_options: Iterable[Any] | None,
    ) -> httpcore.AsyncNetworkStream:
        observer = _NOBODY if self._observe is None else self._observe(*where)
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
        return _Stream(transport, protocol, observer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
