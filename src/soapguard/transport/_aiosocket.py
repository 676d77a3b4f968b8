"""One asyncio connection's bytes: what the socket delivered, flow control, bounded waits.

The lowest layer of :mod:`._aionet`: an ``asyncio.Protocol`` that buffers what arrives
(pausing the socket past a limit, as asyncio's own streams do), lets one task wait, with a
deadline, for data, end of stream or room to write, and hands whole writes to the kernel
(a write ends when the kernel has every byte, as with anyio's streams).  No TLS and no
HTTP here.
"""

from __future__ import annotations

import asyncio
import collections
import select
from typing import Any

__all__ = ["Deadline", "Protocol", "readable"]

#: bytes buffered from the socket before reading pauses (as asyncio's own streams)
_READ_LIMIT = 256 * 1024


class Deadline(TimeoutError):
    """A read, write or handshake ran out of its time (not ETIMEDOUT from the kernel, which
    is a broken connection)."""


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(Deadline())


def readable(sock: Any) -> bool:
    """Whether ``sock`` has data (or end of stream) waiting, without blocking."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])  # pragma: no cover - Windows


class Protocol(asyncio.Protocol):
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
        """Until data, end of stream, loss or room to write; Deadline at ``deadline``."""
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
