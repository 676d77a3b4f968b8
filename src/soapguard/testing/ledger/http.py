"""A threaded stdlib HTTP server with per-connection TLS and a prompt, complete stop.

``socketserver``'s TLS recipe (wrapping the listening socket) runs every TLS
handshake in the accept loop, so one silent client blocks the server, and its
``shutdown()`` leaves idle keep-alive connections (and their threads) alive.
:class:`TrackingServerMixin` instead hands each accepted socket to its own
daemon thread, does the handshake there under a timeout, remembers every live
connection and, in :meth:`~TrackingServerMixin.close_connections`, shuts them
all down and joins their threads.  Mix it in *before* ``http.server.HTTPServer``
(or ``wsgiref.simple_server.WSGIServer``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from typing import Any

logger = logging.getLogger(__name__)


def server_context(
    certfile: str,
    keyfile: str | None = None,
    *,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    maximum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
) -> ssl.SSLContext:
    """A server context for ``certfile`` (chain PEM) and ``keyfile``; TLS 1.2 to 1.3 by default."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = minimum_version
    context.maximum_version = maximum_version
    context.load_cert_chain(certfile, keyfile)
    return context


class TrackingServerMixin:
    """Per-connection TLS handshakes in worker threads, and connection tracking.

    Attributes set by the user of the mixin: ``ssl_context`` (``None`` for plain
    HTTP) and ``handshake_timeout`` in seconds.
    """

    ssl_context: ssl.SSLContext | None = None
    handshake_timeout: float = 30.0
    #: how long close_connections() waits for each worker thread
    join_timeout: float = 5.0

    def init_tracking(self) -> None:
        """Call once from ``__init__`` before serving."""
        self._track_lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._closing = False
        self.connections_accepted = 0
        self.handshake_failures = 0

    # socketserver hooks -------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self._work,
            args=(request, client_address),
            name=f"{type(self).__name__}:{self.server_address[1]}",  # type: ignore[attr-defined]
            daemon=True,
        )
        with self._track_lock:
            self.connections_accepted += 1
            self._workers.add(worker)
        worker.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; a test server should stay quiet.
        logger.debug("error while serving %s", client_address, exc_info=True)

    # internals ----------------------------------------------------------

    def _work(self, raw: socket.socket, client_address: Any) -> None:
        conn: socket.socket | None = None
        try:
            conn = self._establish(raw)
            if conn is not None:
                self.finish_request(conn, client_address)  # type: ignore[attr-defined]
        except Exception:
            self.handle_error(conn or raw, client_address)
        finally:
            with self._track_lock:
                if conn is not None:
                    self._live.discard(conn)
                self._workers.discard(threading.current_thread())
            _close_quietly(raw if conn is None else conn)

    def _establish(self, raw: socket.socket) -> socket.socket | None:
        """Register the connection and do the TLS handshake; ``None`` if it failed."""
        raw.settimeout(self.handshake_timeout)
        conn: socket.socket = raw
        if self.ssl_context is not None:
            conn = self.ssl_context.wrap_socket(
                raw, server_side=True, do_handshake_on_connect=False
            )
        with self._track_lock:
            closing = self._closing
            if not closing:
                self._live.add(conn)
        if closing:
            _close_quietly(conn)
            return None
        if isinstance(conn, ssl.SSLSocket):
            try:
                conn.do_handshake()
            except (OSError, ValueError) as exc:
                with self._track_lock:
                    self.handshake_failures += 1
                    self._live.discard(conn)
                logger.debug("TLS handshake failed: %s", exc)
                _close_quietly(conn)
                return None
        return conn

    def close_connections(self) -> None:
        """Shut down every live connection and wait for the worker threads to end.

        Call after ``shutdown()`` (no new connections are accepted then).
        ``shutdown(SHUT_RDWR)`` on the file descriptor wakes a worker blocked
        in ``recv``; the worker itself closes its socket, so no descriptor is
        closed under a thread that still uses it.
        """
        with self._track_lock:
            self._closing = True
            live = list(self._live)
            workers = list(self._workers)
        for conn in live:
            # the plain socket method, bypassing SSLSocket.shutdown(), which
            # would tear down the TLS object under the worker's feet
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        for worker in workers:
            worker.join(self.join_timeout)
            if worker.is_alive():
                logger.warning("connection thread %s did not stop in time", worker.name)


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
