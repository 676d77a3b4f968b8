"""``FaultProxy``: a loopback TCP proxy that injects TLS-level faults on demand.

The proxy listens on a local address, forwards each accepted connection to one
upstream, and never decrypts anything: it reads TLS record headers in both
directions, derives TLS phases and HTTP/1.1 request/response boundaries from the
record flow, and damages, delays or cuts the traffic where a queued (or random)
:class:`Fault` says so.  It is bounded: it stops by itself after ``lifetime``
seconds and refuses connections beyond ``max_connections`` (in total) or
``max_concurrent`` (at once).  See ``docs/fault-proxy.md``.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType

from .conn import ProxyConnection, reset_socket
from .faults import RST_ON_ACCEPT, Fault
from .hub import Hub
from .stats import FiredFault, ProxyStats

logger = logging.getLogger(__name__)


class FaultProxy:
    """A fault-injecting, TLS-record-aware TCP proxy for tests.  Thread-safe.

    ``upstream`` is the real server.  ``listen`` defaults to an ephemeral port on
    127.0.0.1.  ``tls13_tickets`` is how many session tickets the upstream sends
    after a TLS 1.3 handshake; ``None`` learns it from the first connection.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        listen: tuple[str, int] = ("127.0.0.1", 0),
        lifetime: float = 300.0,
        max_connections: int = 10_000,
        *,
        max_concurrent: int = 256,
        connect_timeout: float = 10.0,
        tls13_tickets: int | None = None,
    ) -> None:
        if not lifetime > 0:
            raise ValueError(f"lifetime must be > 0 seconds, got {lifetime!r}")
        if max_connections < 1 or max_concurrent < 1:
            raise ValueError("max_connections and max_concurrent must be >= 1")
        if tls13_tickets is not None and tls13_tickets < 0:
            raise ValueError(f"tls13_tickets must be >= 0 or None, got {tls13_tickets!r}")
        self.upstream = (upstream[0], int(upstream[1]))
        self._listen = (listen[0], int(listen[1]))
        self.lifetime = float(lifetime)
        self.max_connections = max_connections
        self.max_concurrent = max_concurrent
        self.connect_timeout = connect_timeout
        self._hub = Hub(tls13_tickets)
        self._lock = threading.Lock()
        self._live: set[ProxyConnection] = set()
        self._listener: socket.socket | None = None
        self._address: tuple[str, int] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Bind, listen and start accepting.  Returns ``self``."""
        with self._lock:
            if self._thread is not None or self._stopping.is_set():
                raise RuntimeError("FaultProxy can only be started once")
            family = socket.AF_INET6 if ":" in self._listen[0] else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(self._listen)
                listener.listen(128)
                listener.setblocking(False)
            except OSError:
                listener.close()
                raise
            self._listener = listener
            self._address = listener.getsockname()[:2]
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_w.setblocking(False)
            self._thread = threading.Thread(
                target=self._serve, name=f"soapguard-proxy-{self.port}", daemon=True
            )
            self._thread.start()
        logger.debug("fault proxy %s -> %s started", self._address, self.upstream)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every live connection; join threads within ``timeout``."""
        with self._lock:
            self._stopping.set()
            if self._thread is None:
                self._stopped.set()  # never started: nothing to wait for
            if self._wake_w is not None:
                with contextlib.suppress(OSError):  # closed already, or full: woken anyway
                    self._wake_w.send(b"x")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the proxy has stopped (by ``stop()`` or ``lifetime``); True if it has."""
        return self._stopped.wait(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stopped.is_set()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped" if self._stopped.is_set() else "new"
        listen = self._address or self._listen
        return (
            f"<FaultProxy {listen[0]}:{listen[1]} -> {self.upstream[0]}:{self.upstream[1]} {state}>"
        )

    @property
    def address(self) -> tuple[str, int]:
        """The address the proxy actually listens on."""
        if self._address is None:
            raise RuntimeError("FaultProxy is not started")
        return self._address

    @property
    def port(self) -> int:
        return self.address[1]

    # -- faults -------------------------------------------------------------------------

    def add_fault(self, fault: Fault, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` matching connections or requests."""
        self._hub.faults.add(fault, times)

    def set_random_faults(
        self, rate: float, kinds: Sequence[Fault], seed: int | None = None
    ) -> None:
        """Fault each new request (or connection, for per-connection kinds) with
        probability ``rate``, picking uniformly among the ``kinds`` that apply."""
        self._hub.faults.set_random(rate, kinds, seed)

    def clear_faults(self) -> None:
        """Drop queued faults and turn random faults off."""
        self._hub.faults.clear()

    def pending_faults(self) -> tuple[Fault, ...]:
        """Queued faults not yet taken, in order."""
        return self._hub.faults.pending()

    def stats(self) -> ProxyStats:
        """An immutable snapshot of everything recorded so far."""
        return self._hub.stats()

    # -- accept loop --------------------------------------------------------------------

    def _serve(self) -> None:
        listener, wake = self._listener, self._wake_r
        assert listener is not None
        assert wake is not None
        deadline = time.monotonic() + self.lifetime
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(listener, selectors.EVENT_READ)
                selector.register(wake, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        logger.debug("fault proxy %s: lifetime expired", self._address)
                        break
                    for key, _ in selector.select(remaining):
                        if key.fileobj is listener:
                            self._accept(listener)
        except Exception:
            logger.exception("fault proxy %s: accept loop failed", self._address)
        finally:
            self._shutdown_all()

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # e.g. EMFILE: back off a little and keep serving
            logger.warning("fault proxy %s: accept failed: %s", self._address, exc)
            self._stopping.wait(0.05)
            return
        sock.setblocking(True)
        cid = self._hub.admit(self.max_connections, self.max_concurrent)
        if cid is None:
            logger.warning("fault proxy %s: connection limit reached", self._address)
            reset_socket(sock)
            return
        taken = self._hub.faults.take("connection", None)
        if taken is not None and taken.fault.kind == RST_ON_ACCEPT:
            session = self._hub.new_session(cid, None)
            event = FiredFault(taken.fault.kind, str(taken.fault), cid, None, "reset on accept")
            self._hub.report(event, True)
            reset_socket(sock)
            session.finish()
            self._hub.closed()
            return
        session = self._hub.new_session(cid, taken)
        conn = ProxyConnection(sock, self.upstream, session, self.connect_timeout, self._on_closed)
        with self._lock:
            self._live.add(conn)
        try:
            conn.start()
        except RuntimeError as exc:  # out of threads: refuse, keep serving
            logger.warning("fault proxy %s: cannot start a thread: %s", self._address, exc)
            self._on_closed(conn)
            reset_socket(sock)
            session.finish()

    def _on_closed(self, conn: ProxyConnection) -> None:
        with self._lock:
            self._live.discard(conn)
        self._hub.closed()

    def _shutdown_all(self) -> None:
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            live = list(self._live)
        for conn in live:
            conn.shutdown()
        end = time.monotonic() + 5.0
        for conn in live:
            conn.join(max(0.0, end - time.monotonic()))
        with self._lock:
            for sock in (self._wake_r, self._wake_w):
                if sock is not None:
                    sock.close()
        self._stopped.set()
        logger.debug("fault proxy %s stopped", self._address)
