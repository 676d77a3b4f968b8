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


@dataclass
class RecordStats:
    """TLS record headers seen on one connection, per direction.

    ``in`` is what we read from the peer, ``out`` what we wrote.  Sizes are the
    record length field (ciphertext length, header excluded).
    """

    records_in: int = 0
    records_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    largest_record_in: int = 0
    largest_record_out: int = 0
    recent_in: collections.deque[int] = field(
        default_factory=lambda: collections.deque(maxlen=RECENT_RECORDS)
    )
    recent_out: collections.deque[int] = field(
        default_factory=lambda: collections.deque(maxlen=RECENT_RECORDS)
    )
    #: last alert received from the peer as (level, description code)
    alert_in: tuple[int, int] | None = None
    #: last alert we sent as (level, description code)
    alert_out: tuple[int, int] | None = None

    def record_in(self, size: int) -> None:
        self.records_in += 1
        self.bytes_in += size
        if size > self.largest_record_in:
            self.largest_record_in = size
        self.recent_in.append(size)

    def record_out(self, size: int) -> None:
        self.records_out += 1
        self.bytes_out += size
        if size > self.largest_record_out:
            self.largest_record_out = size
        self.recent_out.append(size)


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
