"""urllib3 connections and pools that record evidence and keep the pool healthy.

Connections (:class:`_Instrumented` mixed into urllib3's classes)

* record how far each request got (phase, bytes written, response started), the TLS
  facts of the connection and whether it was reused, after how long idle and at what
  age, into the attempt being sent (:func:`~soapguard.transport.evidence.being_sent`);
* give every request the same wire shape (:mod:`.wire`): a body always travels with
  ``Content-Length``, never chunked, and ``Expect: 100-continue`` is never sent; a
  request of up to ``COALESCE_MAX`` bytes of body is written in one go, head and body
  together (one TLS record and one segment instead of two, the same bytes);
* refuse to be reused, when taken from the pool, once idle longer than
  ``SOAPGUARD_POOL_IDLE_TIMEOUT`` or older than ``SOAPGUARD_POOL_MAX_AGE`` (jittered
  per connection by ±10% so a fleet does not reconnect in step), and for an attempt
  that must run on a fresh connection (a retry).  urllib3 asks
  ``HTTPConnection.is_connected`` when it takes a connection from the pool and
  reconnects when the answer is no, so these checks cost nothing while a process is
  idle: there is no background thread.

Pools (:class:`_GuardedPool`)

* hold at most ``SOAPGUARD_POOL_MAXSIZE`` connections per endpoint: a caller beyond
  it waits for a free one, within min(connect timeout, what is left of the deadline),
  instead of opening a throwaway connection; if none comes free it fails with
  :class:`PoolTimeoutError` (``timeout.pool``, nothing sent);
* stamp a connection idle when it comes back, and retire it then if it is too old;
* close their idle connections on demand (:meth:`_GuardedPool.close_idle`, before a
  retry) while the pool and its limit stay, so callers waiting for a connection are
  still woken.

:func:`pool_classes` builds the connection and pool classes for one
:class:`PoolPolicy` (cached), for the adapter to hand to urllib3's ``PoolManager``.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import EmptyPoolError
from urllib3.util import Timeout

from ..config import Config
from ..tls import context as tls
from ..tls import pins
from . import deadline
from .evidence import ConnInfo, being_sent
from .wire import wire_shape

#: a connection's maximum age is drawn from ``max_age`` times a factor in this range
AGE_JITTER = (0.9, 1.1)
#: request bodies up to this size are written together with the request head
COALESCE_MAX = 64 * 1024


@dataclass(frozen=True)
class PoolPolicy:
    """The pool settings of one configuration."""

    #: seconds a pooled connection may sit idle and still be reused
    idle_timeout: float
    #: seconds after which a connection is retired (None: never)
    max_age: float | None
    #: connections per endpoint
    maxsize: int
    #: how long a caller waits for a free connection when its request names no timeout
    connect_timeout: float

    @classmethod
    def of(cls, config: Config) -> PoolPolicy:
        return cls(
            idle_timeout=config.pool_idle_timeout,
            max_age=config.pool_max_age,
            maxsize=config.pool_maxsize,
            connect_timeout=config.connect_timeout,
        )

    def retire_at(self, created_at: float) -> float | None:
        """When a connection opened at ``created_at`` is to be retired (jittered)."""
        if self.max_age is None:
            return None
        return created_at + self.max_age * random.uniform(*AGE_JITTER)

    def reusable(self, info: ConnInfo, now: float) -> bool:
        """Whether the idle connection ``info`` describes may carry another request."""
        if info.idle_since is not None and now - info.idle_since > self.idle_timeout:
            return False
        return info.retire_at is None or now < info.retire_at


def _tls_object(sock: Any) -> ssl.SSLSocket | ssl.SSLObject | None:
    """The TLS end of a connection's socket: an ``SSLSocket``, or the ``SSLObject`` of
    urllib3's TLS-in-TLS transport (through an HTTPS proxy); None for plain HTTP."""
    if isinstance(sock, ssl.SSLSocket):
        return sock
    inner = getattr(sock, "sslobj", None)
    return inner if isinstance(inner, ssl.SSLObject) else None


class PoolTimeoutError(EmptyPoolError):
    """No pooled connection became free in time (``timeout.pool``); nothing was sent."""


class _Instrumented:
    """Mixin for urllib3 connections: evidence as it happens, pool checks, wire shape."""

    policy: ClassVar[PoolPolicy]
    #: wrap the TCP socket so its reads end by the call's deadline (TLS sockets come
    #: bounded from soapguard's SSL context)
    bound_plain_socket: ClassVar[bool] = False
    sock: Any
    host: str
    port: int
    _sg_info: ConnInfo | None = None
    #: the head of a request held back to go out with its body (b"": armed, None: off)
    _sg_head: bytes | None = None

    @property
    def is_connected(self) -> bool:
        """urllib3's question when it takes this connection from the pool (False: reconnect)."""
        info = self._sg_info
        if self.sock is not None and info is not None:
            if not self.policy.reusable(info, time.monotonic()):
                return False
            attempt = being_sent()
            if attempt is not None and attempt.fresh_connection and info.requests > 0:
                return False
        return bool(super().is_connected)  # type: ignore[misc]

    def _new_conn(self) -> Any:
        progress = being_sent()
        info = ConnInfo(host=self.host, port=self.port)
        info.retire_at = self.policy.retire_at(info.created_at)
        context = getattr(self, "ssl_context", None)
        if isinstance(context, ssl.SSLContext):  # known before the handshake that may fail
            info.security_level = context.security_level
        self._sg_info = info
        if progress is not None:
            progress.phase = "connect"
            progress.conn = info
            progress.reused_connection = False
        sock = super()._new_conn()  # type: ignore[misc]
        with contextlib.suppress(OSError):
            info.peer_address = sock.getpeername()[0]
        if self.bound_plain_socket:
            sock = deadline.bounded(sock)
        if progress is not None:
            progress.phase = "handshake"
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        info = self._sg_info
        if info is not None and isinstance(self.sock, ssl.SSLSocket):
            tls.describe_connection(self.sock, info)
        tls_object = _tls_object(self.sock)
        if tls_object is not None:
            try:
                pins.check(tls_object, info)  # before any request byte
            except pins.PinMismatch:
                # the socket only: urllib3's close() would also forget that a proxy tunnel
                # was open and report the mismatch as a proxy failure
                self.sock.close()
                raise
        progress = being_sent()
        if progress is not None:
            progress.phase = "send"

    def request(
        self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any
    ) -> None:
        if self.sock is None:
            self.connect()  # what http.client would do inside; done first to record it
        progress = being_sent()
        info = self._sg_info
        if info is not None:
            if progress is not None:
                now = time.monotonic()
                reused = info.requests > 0
                progress.conn = info
                progress.reused_connection = reused
                progress.connection_age = now - info.created_at
                idle = info.idle_since
                progress.idle_before = now - idle if reused and idle is not None else None
            info.requests += 1
            info.idle_since = None
        body, headers = wire_shape(body, headers or {}, bool(kwargs.pop("chunked", False)))
        if progress is not None:
            progress.phase = "send"
        # A small request goes out in one write: the head is held back and sent with the
        # body (one TLS record and one segment instead of two; the bytes are the same).
        self._sg_head = b"" if isinstance(body, bytes) and 0 < len(body) <= COALESCE_MAX else None
        try:
            super().request(method, url, body, headers, chunked=False, **kwargs)  # type: ignore[misc]
            held = self._sg_head
        finally:
            self._sg_head = None
        if held:  # no body write followed the head (not the case with urllib3 2.x): send it
            self.send(held)
        if progress is not None:
            progress.request_complete = True
            progress.phase = "wait"

    def send(self, data: Any) -> None:
        head = self._sg_head
        if head is not None:
            if not head:  # the head of a request whose body follows: hold it
                self._sg_head = bytes(data)
                return
            self._sg_head = None
            data = head + data
        progress = being_sent()
        try:
            super().send(data)  # type: ignore[misc]
        except BaseException:
            if progress is not None and progress.phase == "send":
                progress.send_interrupted = True
            raise
        # Only bytes of the request itself count: a CONNECT to an HTTPS proxy is also written
        # with send(), during the connect phase, and none of it reaches the server.
        if (
            progress is not None
            and progress.phase == "send"
            and isinstance(data, bytes | bytearray | memoryview)
        ):
            progress.bytes_sent += len(data)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        response = super().getresponse(*args, **kwargs)  # type: ignore[misc]
        progress = being_sent()
        if progress is not None:
            progress.response_started = True
            progress.phase = "receive"
            progress.status = response.status
            progress.response_headers = response.headers  # case-insensitive, no copy
        return response


class _HTTPConnection(_Instrumented, HTTPConnection):
    bound_plain_socket = True


class _HTTPSConnection(_Instrumented, HTTPSConnection):
    pass


class _GuardedPool:
    """Mixin for urllib3 pools: a bounded wait for a connection, idle stamps, retirement."""

    policy: ClassVar[PoolPolicy]
    pool: queue.LifoQueue[Any] | None
    host: str
    port: int | None

    def urlopen(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        # requests names no pool timeout: without one a caller would wait for ever.  (urllib3
        # passes timeout and pool_timeout by keyword; positionally they are args[5] and [6].)
        wait = args[6] if len(args) > 6 else kwargs.get("pool_timeout")
        if wait is None:
            timeout = args[5] if len(args) > 5 else kwargs.get("timeout")
            kwargs["pool_timeout"] = wait = self._pool_wait(timeout)
        try:
            return super().urlopen(method, url, *args, **kwargs)  # type: ignore[misc]
        except PoolTimeoutError:
            raise
        except EmptyPoolError:
            raise PoolTimeoutError(
                self,  # type: ignore[arg-type]
                f"no connection to {self.host}:{self.port} became free within {wait:g} s: "
                f"all {self.policy.maxsize} (SOAPGUARD_POOL_MAXSIZE) were in use",
            ) from None

    def _pool_wait(self, timeout: Any) -> float:
        """How long to wait for a free connection: the connect timeout, within the deadline."""
        wait: Any = timeout.connect_timeout if isinstance(timeout, Timeout) else timeout
        if not isinstance(wait, int | float) or isinstance(wait, bool):
            wait = self.policy.connect_timeout
        attempt = being_sent()
        if attempt is not None and attempt.deadline_at is not None:
            wait = min(wait, attempt.deadline_at - time.monotonic())
        return max(0.0, float(wait))

    def _put_conn(self, conn: Any) -> None:
        info: ConnInfo | None = getattr(conn, "_sg_info", None)
        if info is not None:
            now = info.idle_since = time.monotonic()
            if info.retire_at is not None and now >= info.retire_at:
                conn.close()  # retired after its request; its slot stays in the pool
        super()._put_conn(conn)  # type: ignore[misc]

    def close_idle(self) -> int:
        """Close every idle connection in this pool; the pool and its limit stay.

        Connections in use are left alone: another thread may be reading a good
        response on one.  Returns how many were closed.
        """
        slots = self.pool
        if slots is None:
            return 0
        held: list[Any] = []
        try:
            while True:
                held.append(slots.get(block=False))
        except queue.Empty:
            pass
        closed = 0
        try:
            for conn in held:
                if conn is not None and not conn.is_closed:
                    conn.close()
                    closed += 1
        finally:
            for conn in held:  # every slot back, so waiting callers are woken
                slots.put(conn, block=False)
        return closed


class _HTTPPool(_GuardedPool, HTTPConnectionPool):
    pass


class _HTTPSPool(_GuardedPool, HTTPSConnectionPool):
    pass


@functools.lru_cache(maxsize=64)
def pool_classes(policy: PoolPolicy) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes (by scheme) whose connections follow ``policy``."""

    def bind(base: type[Any], **extra: Any) -> Any:
        # named after urllib3's class, which is what reprs and urllib3's own logs show
        public = next(c for c in base.__mro__ if c.__module__.startswith("urllib3."))
        return type(public.__name__, (base,), {"policy": policy, **extra})

    return {
        "http": bind(_HTTPPool, ConnectionCls=bind(_HTTPConnection)),
        "https": bind(_HTTPSPool, ConnectionCls=bind(_HTTPSConnection)),
    }
