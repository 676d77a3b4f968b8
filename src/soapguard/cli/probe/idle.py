"""How long the server keeps an idle keep-alive connection open (``probe --idle-wait S``).

A pooled connection that outlives the peer's idle limit meets a reset on its next
request, and a write on it cannot be retried safely: ``SOAPGUARD_POOL_IDLE_TIMEOUT``
must stay under the shortest idle limit on the path.  This step sends one ``GET``
of the URL on a keep-alive connection, then waits, up to ``--idle-wait`` seconds
and never past ``--budget``, for the server to close it.  It runs in a thread while
the other steps go on, so the wait mostly overlaps them.

What it cannot see: a firewall or load balancer that forgets a connection without
telling either end (no FIN, no reset).  Only a request on that connection would
show it, which the probe does not send.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from typing import Any

from ...config import Config
from .tls import Attempt, Target, _host_header, _open, _parse_head, error_fields


class IdleProbe:
    """The measurement, running in a daemon thread from :meth:`start` to :meth:`result`."""

    def __init__(
        self, target: Target, config: Config, *, timeout: float, verify: bool, until: float
    ) -> None:
        self._args = (target, config, timeout, verify)
        self._until = until
        self._result: dict[str, Any] = {"measured": False, "error": None}
        self._thread = threading.Thread(target=self._run, name="soapguard-probe-idle", daemon=True)

    @classmethod
    def start(
        cls, target: Target, config: Config, *, timeout: float, verify: bool, until: float
    ) -> IdleProbe:
        """Start measuring; ``until`` (``time.monotonic()``) is the latest the wait may end."""
        probe = cls(target, config, timeout=timeout, verify=verify, until=until)
        probe._thread.start()
        return probe

    def result(self) -> dict[str, Any]:
        """Wait for the measurement to end (never past ``until``) and return it."""
        self._thread.join(max(0.0, self._until - time.monotonic()) + 5.0)
        return dict(self._result)

    def _run(self) -> None:
        target, config, timeout, verify = self._args
        attempt = Attempt(verified=verify)
        sock = _open(target, config, verify, timeout, attempt)
        if sock is None:
            self._result["error"] = attempt.error
            return
        with sock:
            try:
                keep_alive = _get(sock, target, timeout)
            except (OSError, ValueError) as exc:
                self._result["error"] = error_fields(exc)
                return
            if not keep_alive:
                self._result["error"] = {
                    "error.type": "no_keep_alive",
                    "error.message": "the server closes the connection after each response",
                }
                return
            self._result.update(wait_for_close(sock, self._until))


def _get(sock: ssl.SSLSocket, target: Target, timeout: float) -> bool:
    """One keep-alive GET of the target, read to its end; whether the server keeps it open."""
    request = (
        f"GET {target.path} HTTP/1.1\r\nHost: {_host_header(target)}\r\n"
        "User-Agent: soapguard-probe\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
    )
    sock.sendall(request.encode("ascii"))
    deadline = time.monotonic() + timeout
    data = bytearray()
    while (end := data.find(b"\r\n\r\n")) < 0:
        data += _recv(sock, deadline)
    head = bytes(data[:end])
    _, length, chunked = _parse_head(head)
    body = len(data) - end - 4
    while (chunked and not data.endswith(b"\r\n0\r\n\r\n")) or (
        not chunked and length is not None and body < length
    ):
        piece = _recv(sock, deadline)
        data += piece
        body += len(piece)
    if not chunked and length is None:
        return False  # close-delimited: the connection ends with the body
    closing = re.search(rb"(?im)^connection:[^\r\n]*\bclose\b", head)
    return closing is None and not head.startswith(b"HTTP/1.0")


def _recv(sock: ssl.SSLSocket, deadline: float) -> bytes:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the response did not complete in time")
    sock.settimeout(left)
    piece = sock.recv(65536)
    if not piece:
        raise ValueError("the server closed the connection before the response ended")
    return piece


def wait_for_close(sock: ssl.SSLSocket | socket.socket, until: float) -> dict[str, Any]:
    """Wait for the peer to end an idle connection, at most until ``until``.

    Returns ``measured`` (always True here), ``closed_after_s`` (None: still open),
    ``how`` (``fin``, ``close_notify``, ``reset``, ``data``: it sent something first,
    such as a 408 answer) and ``waited_s``.
    """
    started = time.monotonic()
    how: str | None = None
    while how is None:
        left = until - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            how = "data" if sock.recv(1) else "fin"
        except TimeoutError:
            break
        except ssl.SSLZeroReturnError:
            how = "close_notify"
        except (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError):
            how = "reset"
        except OSError:
            how = "reset"
    waited = time.monotonic() - started
    return {
        "measured": True,
        "closed_after_s": round(waited, 1) if how is not None else None,
        "how": how,
        "waited_s": round(waited, 1),
    }
