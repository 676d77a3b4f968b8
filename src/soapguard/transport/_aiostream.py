"""httpcore network streams over one asyncio connection: plain TCP, and TLS on top of it.

See :mod:`._aionet` for why they exist and how their failures look.  TLS runs over
``ssl.MemoryBIO`` as anyio's streams run it, on the bytes of :mod:`._aiosocket`, or of
another TLS stream (TLS to a target through a TLS connection to a proxy).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

import httpcore

from ._aiosocket import Deadline, Protocol, readable

__all__ = ["NOBODY", "Stream", "StreamObserver"]

T = TypeVar("T")

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


NOBODY = StreamObserver()


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
    if isinstance(exc, Deadline):
        mapped = httpcore.WriteTimeout(exc)
    elif isinstance(exc, EOFError | ssl.SSLSyscallError) or (
        isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError)
    ):
        mapped = httpcore.WriteError(exc)
    else:
        return exc
    mapped.__cause__ = exc
    return mapped


class Stream(httpcore.AsyncNetworkStream):
    """One connection, plain TCP (before its TLS handshake, or ``http://``).

    A short request head that announces a body is held back and goes out with the body's
    first write (or before the next read), in one TLS record and one TCP segment, as
    ``http.client`` sends a small body with its head: h11 writes them separately.
    """

    def __init__(
        self, transport: asyncio.Transport, protocol: Protocol, observer: StreamObserver
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
        except Deadline as exc:
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
        except Deadline as exc:
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


class _TLSStream(Stream):
    """TLS over ``ssl.MemoryBIO`` on the connection of ``lower`` (TCP, or TLS to a proxy)."""

    def __init__(
        self,
        lower: Stream,
        ssl_object: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
    ) -> None:
        super().__init__(lower._transport, lower._protocol, lower._observer)
        self._lower = lower
        self._plain = type(lower) is Stream  # the record bytes are the socket's own
        self._ssl = ssl_object
        self._incoming = incoming
        self._outgoing = outgoing
        self._broken = False

    async def tls(self, step: Callable[[], T], deadline: float | None) -> T:
        """Run ``step`` (a method of the SSL object) to completion, moving records as it
        needs them.  Raises OSError (the connection broke), EOFError (the peer closed
        without ``close_notify``), ``ssl.SSLError`` or Deadline."""
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
