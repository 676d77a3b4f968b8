"""Sockets that never wait past the deadline of the call they are sending for.

urllib3's read timeout applies to each socket read, so a server that trickles its
response (64 bytes every 0.3 s) keeps a call alive long after its deadline: every
read succeeds in time, and the reads never end.  The sockets here bound each blocking
operation by what is left of the call's deadline instead: before a ``recv``/``send``
they shrink their timeout to the time left before
:attr:`~soapguard.transport.evidence.Attempt.deadline_at` (when that is sooner than
the timeout already set), and a timeout that this shrinking caused is raised as
:class:`ConnectionDeadline`, which the classifier reports as ``timeout.deadline``.
urllib3 then discards the connection, as after any timeout.

The deadline comes from the attempt being sent on this thread
(:func:`~soapguard.transport.evidence.being_sent`); outside an attempt (WSDL
loading, the probe) these sockets behave exactly like the standard ones.

:class:`DeadlineSSLSocket` is what soapguard's SSL contexts create
(``SSLContext.sslsocket_class``); :func:`bounded` turns a plain TCP socket into a
:class:`DeadlineSocket` for ``http://`` endpoints.  A TLS connection through an
HTTPS proxy (TLS inside TLS) is not covered: urllib3 wraps it in its own class.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

from .evidence import being_sent

__all__ = ["ConnectionDeadline", "DeadlineSSLSocket", "DeadlineSocket", "bounded"]


class ConnectionDeadline(TimeoutError):
    """A socket operation was cut short because the call's deadline was reached.

    A ``TimeoutError`` (what ``socket.timeout`` is), so urllib3 and requests treat it
    as a read timeout and close the connection.
    """


class _Bounded:
    """Mixin for socket classes: each blocking operation ends by the attempt's deadline."""

    def _bound(self) -> bool:
        """Shrink the timeout to the deadline if that is sooner; True if it was shrunk."""
        attempt = being_sent()
        if attempt is None or attempt.deadline_at is None:
            return False
        left = attempt.deadline_at - time.monotonic()
        current = self.gettimeout()  # type: ignore[attr-defined]
        if current is not None and current <= left:
            return False
        if left <= 0:
            raise ConnectionDeadline("the call's deadline was reached before this socket read")
        self.settimeout(left)  # type: ignore[attr-defined]
        return True

    def recv(self, *args: Any, **kwargs: Any) -> Any:
        shrunk = self._bound()
        try:
            return super().recv(*args, **kwargs)  # type: ignore[misc]
        except TimeoutError:
            if shrunk:
                raise _expired() from None
            raise

    def recv_into(self, *args: Any, **kwargs: Any) -> Any:
        shrunk = self._bound()
        try:
            return super().recv_into(*args, **kwargs)  # type: ignore[misc]
        except TimeoutError:
            if shrunk:
                raise _expired() from None
            raise

    def send(self, *args: Any, **kwargs: Any) -> Any:
        shrunk = self._bound()
        try:
            return super().send(*args, **kwargs)  # type: ignore[misc]
        except TimeoutError:
            if shrunk:
                raise _expired() from None
            raise


class _BoundedSendall(_Bounded):
    """``sendall`` bounded too, for sockets whose ``sendall`` does not go through ``send``."""

    def sendall(self, *args: Any, **kwargs: Any) -> Any:
        shrunk = self._bound()
        try:
            return super().sendall(*args, **kwargs)  # type: ignore[misc]
        except TimeoutError:
            if shrunk:
                raise _expired() from None
            raise


def _expired() -> ConnectionDeadline:
    return ConnectionDeadline(
        "the call's deadline was reached while waiting for the peer, so the socket "
        "operation was cut short"
    )


class DeadlineSSLSocket(_Bounded, ssl.SSLSocket):
    """``ssl.SSLSocket`` whose reads and writes end by the call's deadline.

    Its ``sendall`` writes through ``send`` (bounded), so it needs no bound of its own.
    """


class DeadlineSocket(_BoundedSendall, socket.socket):
    """``socket.socket`` whose reads and writes end by the call's deadline."""


def bounded(sock: socket.socket) -> socket.socket:
    """``sock`` as a :class:`DeadlineSocket` (same descriptor, options and timeout)."""
    if isinstance(sock, _Bounded) or type(sock) is not socket.socket:
        return sock  # already bounded, or a class this must not replace
    timeout = sock.gettimeout()
    replacement = DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    replacement.settimeout(timeout)
    return replacement
