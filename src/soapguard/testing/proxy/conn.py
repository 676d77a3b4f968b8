"""Socket plumbing for one proxied connection: connect upstream, pump both ways, tear down.

Each connection runs in two daemon threads, one per direction, with blocking
sockets.  Bytes are split into whole TLS records (see ``_records``), each record
is shown to the :class:`~._session.Session` before it is forwarded, and
consecutive plain forwards are batched into one ``sendall``.  Sockets are only
closed by the connection's own thread after both pumps have finished; other
threads (faults, ``stop()``) only ``shutdown()`` them, under a lock, which wakes
blocked reads without racing the close.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Callable
from typing import Literal

from .records import NotTLSError, RecordSplitter, flip_body_byte
from .session import Session
from .verdict import FORWARD, Verdict

logger = logging.getLogger(__name__)

_RECV_SIZE = 65536
_LINGER_RESET = struct.pack("ii", 1, 0)


def reset_socket(sock: socket.socket) -> None:
    """Close ``sock`` so the peer gets a TCP RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sock.close()


class ProxyConnection:
    def __init__(
        self,
        client: socket.socket,
        upstream: tuple[str, int],
        session: Session,
        connect_timeout: float,
        on_closed: Callable[[ProxyConnection], None],
    ) -> None:
        self.session = session
        self._client = client
        self._upstream_address = upstream
        self._upstream: socket.socket | None = None
        self._connect_timeout = connect_timeout
        self._on_closed = on_closed
        self._io_lock = threading.Lock()
        self._closing = False
        self._closed = False
        self._reset_client = False
        #: set when the connection should stop waiting (stall): teardown or client EOF
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"soapguard-proxy-conn-{session.log.id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None) -> None:
        self._thread.join(timeout)

    def shutdown(self) -> None:
        """End the connection now (``FaultProxy.stop``); returns at once.

        Unlike a fault's abort this shuts both sockets down both ways even if an
        abort is already under way, so no pump can stay blocked in a send.
        """
        with self._io_lock:
            if not self._closed:
                self._closing = True
                for sock in (self._client, self._upstream):
                    if sock is not None:
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
        self._wake.set()
        self.session.interrupt()

    # -- thread bodies ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            try:
                upstream = socket.create_connection(
                    self._upstream_address, timeout=self._connect_timeout
                )
            except OSError as exc:
                logger.debug("connection %d: upstream connect failed: %s", self._id, exc)
                self.session.connect_failed(str(exc) or type(exc).__name__)
                self._reset_client = True
                return
            with self._io_lock:
                self._upstream = upstream
                closing = self._closing
            if closing:
                return
            upstream.settimeout(None)
            for sock in (self._client, upstream):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            helper = threading.Thread(
                target=self._pump, args=("c2s",), name=f"{self._thread.name}-c2s", daemon=True
            )
            try:
                helper.start()
            except RuntimeError as exc:  # out of threads: refuse this connection
                logger.warning("connection %d: cannot start a thread: %s", self._id, exc)
                self._reset_client = True
                return
            self._pump("s2c")
            helper.join()
        finally:
            self._close_all()
            self.session.finish()
            self._on_closed(self)

    def _pump(self, direction: Literal["c2s", "s2c"]) -> None:
        upstream = self._upstream
        assert upstream is not None
        src, dst = (self._client, upstream) if direction == "c2s" else (upstream, self._client)
        session = self.session
        on_record = session.client_record if direction == "c2s" else session.server_record
        on_chunk = session.client_chunk if direction == "c2s" else session.server_chunk
        splitter = RecordSplitter()
        mode: str | None = None
        out = bytearray()
        try:
            while True:
                data = src.recv(_RECV_SIZE)
                if not data:
                    break
                if mode is None:
                    mode = session.detect(data[0])
                if mode != "tls":
                    if not self._apply(on_chunk(data), data, dst, out):
                        return
                    self._flush(dst, out)
                    continue
                try:
                    for ctype, record in splitter.feed(data):
                        verdict = on_record(ctype, record)
                        if verdict.hold:
                            self._flush(dst, out)
                            session.settle_tickets()
                            verdict = on_record(ctype, record)
                        if not self._apply(verdict, record, dst, out):
                            return
                except NotTLSError as exc:
                    session.mark_broken(f"{direction}: {exc}")
                    out += splitter.drain()
                    mode = "raw"
                self._flush(dst, out)
            # clean EOF: pass the half-close on
            session.eof(direction)
            if direction == "c2s":
                self._wake.set()
            with self._io_lock, contextlib.suppress(OSError):
                if not self._closing:
                    dst.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if not self._closing:
                logger.debug("connection %d: %s: %s; resetting", self._id, direction, exc)
                self._abort(reset=True)
        except Exception:  # a bug must end this connection, not hang or kill the proxy
            logger.exception("connection %d: %s: unexpected error", self._id, direction)
            self._abort(reset=True)

    def _apply(self, verdict: Verdict, data: bytes, dst: socket.socket, out: bytearray) -> bool:
        """Carry out one verdict; False means the connection is being torn down."""
        if verdict is FORWARD:
            out += data
            return True
        if verdict.stall is not None:
            self._flush(dst, out)
            self._wake.wait(verdict.stall)
            if self._closing:
                return False
        if verdict.before is not None:
            self._flush(dst, out)
            self._abort(reset=verdict.before == "rst")
            return False
        if verdict.data is not None:
            data = verdict.data
        if verdict.flip:
            data = flip_body_byte(data)
        if verdict.limit is not None:
            data = data[: verdict.limit]
        out += data
        if verdict.close_after:
            self._flush(dst, out)
            self._abort(reset=False)
            return False
        return True

    def _flush(self, dst: socket.socket, out: bytearray) -> None:
        if out:
            dst.sendall(out)
            out.clear()

    # -- teardown -----------------------------------------------------------------------

    @property
    def _id(self) -> int:
        return self.session.log.id

    def _abort(self, reset: bool) -> None:
        """Stop both pumps; ``reset`` makes the final close of the client an RST.

        Without ``reset`` the client gets a FIN right away.  With it, reading is
        shut down (which sends nothing) and the RST goes out when the
        connection's thread closes the socket.
        """
        with self._io_lock:
            if not self._closed and not self._closing:
                self._closing = True
                self._reset_client = reset
                how = socket.SHUT_RD if reset else socket.SHUT_RDWR
                with contextlib.suppress(OSError):
                    self._client.shutdown(how)
                if self._upstream is not None:
                    with contextlib.suppress(OSError):
                        self._upstream.shutdown(socket.SHUT_RDWR)
        self._wake.set()
        self.session.interrupt()

    def _close_all(self) -> None:
        with self._io_lock:
            self._closing = self._closed = True
            if self._reset_client:
                reset_socket(self._client)
            else:
                self._client.close()
            if self._upstream is not None:
                self._upstream.close()
