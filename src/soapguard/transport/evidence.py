"""What one attempt, and the connection it used, were observed to do.

These are the facts the rest of soapguard reasons about.  The attempt loop creates an
:class:`Attempt` and hands it to the transport explicitly; the transport and its
connections *write* what happens (phase, bytes written, response started, TLS facts);
``classify`` and ``diagnostics`` only *read* it.  Nothing here guesses: a field that
was not observed stays ``None``.

``Attempt`` is per attempt (one HTTP request), ``ConnInfo`` per TCP+TLS connection,
``RecordStats`` per TLS connection, fed by the record tracer where the interpreter
allows it.

The sync transport cannot pass the attempt through requests and urllib3 to the
connection object, so it names the attempt it is sending for the duration of the send
(:func:`sending`), and connections look it up with :func:`being_sent`.  That context
variable is data only, set and reset around one send: whether a call runs under
soapguard's rules is decided by the explicit handle, never by the variable.
"""

from __future__ import annotations

import collections
import contextvars
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..classify.failure import Failure
    from ..diagnostics.secrets import SecretScope
    from ..tls.x509 import CertInfo

Phase = Literal["connect", "handshake", "send", "wait", "receive"]
RequestSent = Literal["none", "partial", "full"]

#: how many recent record sizes are kept per direction
RECENT_RECORDS = 8
#: record sizes the tracer appends before it folds them into a connection's totals
FOLD_AT = 512


@dataclass(frozen=True)
class CallContext:
    """What is known about a call before its first attempt."""

    service: str | None
    method: str | None
    #: the primary endpoint's URL
    url: str
    idempotent: bool
    max_attempts: int
    #: every endpoint the call may use, the primary first (default: the primary only)
    endpoints: tuple[str, ...] = ()
    #: the same on every attempt of the call (see ``soapguard.idempotency_key``)
    idempotency_key: str | None = None
    message_id: str | None = None
    #: the secrets of the client (or standalone transport) making the call: redaction inside
    #: the call masks them by value, and the log filter rewrites the call's records with them
    secrets: SecretScope | None = field(default=None, compare=False, repr=False)


class _Tally:
    """One direction's records, folded: count, bytes, largest, the last few sizes."""

    __slots__ = ("count", "largest", "recent", "total")

    def __init__(self, count: int, total: int, largest: int) -> None:
        self.count = count
        self.total = total
        self.largest = largest
        self.recent: collections.deque[int] = collections.deque(maxlen=RECENT_RECORDS)

    def fold(self, sizes: list[int]) -> None:
        if sizes:
            self.count += len(sizes)
            self.total += sum(sizes)
            self.largest = max(self.largest, max(sizes))
            self.recent.extend(sizes[-RECENT_RECORDS:])
            sizes.clear()


class RecordStats:
    """TLS record headers seen on one connection, per direction.

    ``in`` is what we read from the peer, ``out`` what we wrote.  Sizes are the record
    length field (ciphertext length, header excluded).

    The record tracer runs once or twice per record inside OpenSSL's read and write
    loops, so all it does is append a size to :attr:`sizes_in` / :attr:`sizes_out`.  The
    totals fold those sizes in when they are read, and the tracer folds every
    :data:`FOLD_AT` records, so memory stays bounded.  Every figure is exact.
    """

    def __init__(
        self,
        records_in: int = 0,
        records_out: int = 0,
        bytes_in: int = 0,
        bytes_out: int = 0,
        largest_record_in: int = 0,
        largest_record_out: int = 0,
        alert_in: tuple[int, int] | None = None,
        alert_out: tuple[int, int] | None = None,
    ) -> None:
        #: record sizes not folded in yet (appended by the tracer)
        self.sizes_in: list[int] = []
        self.sizes_out: list[int] = []
        self._in = _Tally(records_in, bytes_in, largest_record_in)
        self._out = _Tally(records_out, bytes_out, largest_record_out)
        #: last alert received from the peer as (level, description code)
        self.alert_in = alert_in
        #: last alert we sent as (level, description code)
        self.alert_out = alert_out

    def record_in(self, size: int) -> None:
        self.sizes_in.append(size)

    def record_out(self, size: int) -> None:
        self.sizes_out.append(size)

    def fold(self) -> None:
        """Fold the sizes appended so far into the totals."""
        self._in.fold(self.sizes_in)
        self._out.fold(self.sizes_out)

    def _tally_in(self) -> _Tally:
        self._in.fold(self.sizes_in)
        return self._in

    def _tally_out(self) -> _Tally:
        self._out.fold(self.sizes_out)
        return self._out

    @property
    def records_in(self) -> int:
        return self._tally_in().count

    @property
    def records_out(self) -> int:
        return self._tally_out().count

    @property
    def bytes_in(self) -> int:
        return self._tally_in().total

    @property
    def bytes_out(self) -> int:
        return self._tally_out().total

    @property
    def largest_record_in(self) -> int:
        return self._tally_in().largest

    @property
    def largest_record_out(self) -> int:
        return self._tally_out().largest

    @property
    def recent_in(self) -> collections.deque[int]:
        """The last :data:`RECENT_RECORDS` sizes read, oldest first."""
        return self._tally_in().recent

    @property
    def recent_out(self) -> collections.deque[int]:
        """The last :data:`RECENT_RECORDS` sizes written, oldest first."""
        return self._tally_out().recent

    def __repr__(self) -> str:
        return (
            f"RecordStats(records_in={self.records_in}, records_out={self.records_out}, "
            f"bytes_in={self.bytes_in}, bytes_out={self.bytes_out}, "
            f"largest_record_in={self.largest_record_in}, "
            f"largest_record_out={self.largest_record_out}, recent_in={list(self.recent_in)}, "
            f"recent_out={list(self.recent_out)}, alert_in={self.alert_in}, "
            f"alert_out={self.alert_out})"
        )


@dataclass
class ConnInfo:
    """Facts about one TCP(+TLS) connection, filled as it is established."""

    host: str
    port: int
    created_pid: int = field(default_factory=os.getpid)
    #: ``time.monotonic()`` when the connection was opened
    created_at: float = field(default_factory=time.monotonic)
    #: ``time.monotonic()`` when it last went back to its pool (None: in use, or never used)
    idle_since: float | None = None
    #: ``time.monotonic()`` after which it is retired (``SOAPGUARD_POOL_MAX_AGE``, jittered)
    retire_at: float | None = None
    peer_address: str | None = None
    tls_version: str | None = None
    cipher: str | None = None
    resumed: bool | None = None
    caps_applied: bool | None = None
    max_send_fragment: int | None = None
    max_fragment_length: int | None = None
    cert_sha256: str | None = None
    #: the OpenSSL security level of the context the connection was made with
    security_level: int | None = None
    #: the server's certificate (DER), read for expiry warnings only when one may be due
    cert_der: bytes | None = None
    #: the client certificate this connection's context presents, if one is configured
    client_cert: CertInfo | None = None
    #: pins of the server's verified chain, leaf first; recorded only when pins are checked
    server_pins: tuple[str, ...] | None = None
    #: an attempt loop has looked at its certificates' expiry (its first use may have been
    #: a WSDL download, outside any call)
    expiry_noticed: bool = False
    #: number of requests started on this connection (1 for a fresh one)
    requests: int = 0
    #: None when record tracing is unavailable on this interpreter
    records: RecordStats | None = None


@dataclass(eq=False)
class Attempt:
    """One attempt of one call: what the loop asks for, and what was observed.

    The loop fills the first group; the transport and its connection write the rest
    as it happens.  ``failure``/``raised`` are set where low-level exceptions are
    mapped, so the loop classifies an attempt once, from this attempt's evidence only.
    """

    #: 1-based number of this attempt within its call
    number: int = 1
    #: the endpoint URL this attempt goes to, its index (0 = primary) and its breaker's state
    endpoint: str = ""
    endpoint_index: int = 0
    circuit_state: str | None = None
    #: the call's identity, the same on every attempt
    idempotency_key: str | None = None
    message_id: str | None = None
    #: False when certificate verification was switched off in code for this attempt
    tls_verify: bool | None = None
    #: seconds left before the call's deadline when this attempt started
    time_left: float | None = None
    #: the transport shrank this attempt's timeouts to ``time_left``
    deadline_capped: bool = False
    #: ``time.monotonic()`` at which the call's deadline expires, set by the transport: the
    #: attempt's sockets never wait past it (None: no deadline)
    deadline_at: float | None = None
    #: this attempt must run on a connection opened for it (a retry never reuses one)
    fresh_connection: bool = False
    #: the transport was asked to send this attempt (an exception raised before that is
    #: the caller's, e.g. zeep validating arguments, and not an exchange failure)
    entered: bool = False

    # -- written by the connection, as it happens -----------------------------------------
    phase: Phase = "connect"
    bytes_sent: int = 0
    #: a write raised: some of its bytes may have left even though none were counted
    send_interrupted: bool = False
    request_complete: bool = False
    response_started: bool = False
    reused_connection: bool | None = None
    #: seconds the connection had sat idle in its pool before this request (reused only)
    idle_before: float | None = None
    #: seconds since the connection was opened, when this request started on it
    connection_age: float | None = None
    status: int | None = None
    response_headers: Mapping[str, str] | None = None
    conn: ConnInfo | None = None

    # -- set where the failure was mapped -------------------------------------------------
    failure: Failure | None = None
    raised: BaseException | None = None

    @property
    def request_sent(self) -> RequestSent:
        if self.request_complete:
            return "full"
        if self.bytes_sent > 0 or self.send_interrupted:
            return "partial"
        return "none"

    @property
    def observed(self) -> bool:
        """Whether an instrumented connection wrote anything (else this is no evidence)."""
        return (
            self.conn is not None
            or self.phase != "connect"
            or self.bytes_sent > 0
            or self.send_interrupted
            or self.request_complete
            or self.response_started
        )


_sending: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar(
    "soapguard_sending", default=None
)


class sending:  # a lower-case name: used like the function it replaced
    """Name ``attempt`` as the one this thread/task is sending, for the block's duration.

    A class rather than a generator: it runs on every request, and a class-based
    context manager costs a fraction of ``contextlib.contextmanager``'s frames.
    """

    __slots__ = ("_attempt", "_token")

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt

    def __enter__(self) -> Attempt:
        self._token = _sending.set(self._attempt)
        return self._attempt

    def __exit__(self, *exc_info: object) -> None:
        _sending.reset(self._token)


#: The attempt whose request this thread/task is sending right now, if any.  (The
#: context variable's own getter: connections and sockets ask on every read and write.)
being_sent: Callable[[], Attempt | None] = _sending.get
