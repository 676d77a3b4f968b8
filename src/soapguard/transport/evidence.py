"""Mutable per-connection and per-attempt observations.

These are the facts the rest of soapguard reasons about.  The adapter's
connection classes *write* them (bytes written, response started, TLS facts);
``classify`` and ``diagnostics`` only *read* them.  Nothing here guesses: a
field that was not observed stays ``None``.

``Progress`` is per attempt (one HTTP request), ``ConnInfo`` is per TCP+TLS
connection, ``RecordStats`` is per TLS connection and is fed by the record
tracer (``SSLContext._msg_callback``) when it is available.
"""

from __future__ import annotations

import collections
import contextvars
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Phase = Literal["connect", "handshake", "send", "wait", "receive"]
RequestSent = Literal["none", "partial", "full"]

#: how many recent record sizes are kept per direction
RECENT_RECORDS = 8


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
    peer_address: str | None = None
    tls_version: str | None = None
    cipher: str | None = None
    resumed: bool | None = None
    caps_applied: bool | None = None
    max_send_fragment: int | None = None
    max_fragment_length: int | None = None
    cert_sha256: str | None = None
    #: number of requests started on this connection (1 for a fresh one)
    requests: int = 0
    #: None when record tracing is unavailable on this interpreter
    records: RecordStats | None = None


@dataclass
class Progress:
    """How far one attempt (one HTTP request) got.  Written by the connection."""

    phase: Phase = "connect"
    bytes_sent: int = 0
    #: a write raised: some of its bytes may have left even though none were counted
    send_interrupted: bool = False
    request_complete: bool = False
    response_started: bool = False
    reused_connection: bool | None = None
    #: seconds left before the call's deadline when this attempt started (None: no deadline)
    time_left: float | None = None
    #: the transport shrank this attempt's timeouts to ``time_left``
    deadline_capped: bool = False
    status: int | None = None
    response_headers: Mapping[str, str] | None = None
    conn: ConnInfo | None = None

    @property
    def request_sent(self) -> RequestSent:
        if self.request_complete:
            return "full"
        if self.bytes_sent > 0 or self.send_interrupted:
            return "partial"
        return "none"


_current: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
    "soapguard_progress", default=None
)


def current_progress() -> Progress | None:
    """The Progress of the attempt running in this thread/task, if any."""
    return _current.get()


def begin_attempt() -> tuple[Progress, contextvars.Token[Progress | None]]:
    """Start tracking a new attempt in this context; pair with :func:`end_attempt`."""
    progress = Progress()
    return progress, _current.set(progress)


def end_attempt(token: contextvars.Token[Progress | None]) -> None:
    _current.reset(token)


@dataclass(frozen=True)
class Failure:
    """One classified failure: SPEC §4's taxonomy plus how far the request got.

    Built only by :func:`soapguard.classify.classify`.
    """

    #: SPEC §4 ``error.type``, e.g. ``"tls.bad_record_mac"``
    type: str
    #: ``"local"`` (we rejected the peer's record / we sent the alert) or ``"peer"``
    #: (the peer's alert) for TLS alerts and integrity failures, else ``None``
    origin: Literal["local", "peer"] | None
    #: short, redacted human message (the innermost meaningful one)
    message: str
    phase: Phase | None = None
    request_sent: RequestSent = "none"
    #: OpenSSL library/reason from ``ssl.SSLError`` when available
    library: str | None = None
    reason: str | None = None
    http_status: int | None = None
    #: seconds, parsed from a ``Retry-After`` response header
    retry_after: float | None = None

    @property
    def outcome(self) -> Literal["failed", "unknown"]:
        """Whether the operation may have run on the server: ``unknown`` unless nothing
        left (``request_sent: none``) or the server itself answered with an error."""
        if self.request_sent == "none" or self.type in ("http.status", "soap.fault"):
            return "failed"
        return "unknown"
