"""What the fault proxy observed: frozen snapshots and the bounded per-connection log.

:class:`ProxyStats` is what :meth:`FaultProxy.stats` returns: an immutable
copy, safe to keep and compare while traffic continues.  :class:`ConnectionLog`
is the mutable, memory-bounded recorder behind it; it is only touched under
its connection's lock.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Literal

Direction = Literal["c2s", "s2c"]

#: record tuples stored per direction per connection (counts and maxima are always exact)
MAX_STORED_RECORDS = 10_000


@dataclass(frozen=True)
class FiredFault:
    """One fault that took effect (or, in ``ProxyStats.missed``, one that could not)."""

    kind: str
    spec: str
    #: 1-based connection id
    connection: int
    #: 1-based request index within the connection; None for per-connection faults
    request: int | None
    detail: str


@dataclass(frozen=True)
class UpstreamFailure:
    """A connection the proxy could not forward: connecting to the upstream failed."""

    #: 1-based connection id (the client's connection was reset)
    connection: int
    #: the connect error, e.g. ``[Errno 111] Connection refused`` or ``timed out``
    error: str


@dataclass(frozen=True)
class ConnectionRecord:
    """Everything recorded about one proxied connection.

    ``records_c2s`` / ``records_s2c`` hold ``(content_type, length)`` of every
    TLS record (header excluded from the length), the first
    ``MAX_STORED_RECORDS`` of them.  ``app_c2s`` / ``app_s2c`` hold the lengths
    of the records that carried request/response data; for plain TCP they hold
    the sizes of the chunks read.
    """

    id: int
    tls_version: str | None
    requests: int
    records_c2s: tuple[tuple[int, int], ...]
    records_s2c: tuple[tuple[int, int], ...]
    app_c2s: tuple[int, ...]
    app_s2c: tuple[int, ...]
    #: "tls", "plain", or None if no byte was seen
    mode: str | None
    record_count_c2s: int
    record_count_s2c: int
    largest_app_c2s: int
    largest_app_s2c: int
    #: TLS 1.3 records from the server counted as session tickets (not response data)
    session_tickets: int
    #: why the connection could not be proxied (e.g. upstream refused), else None
    error: str | None
    closed: bool

    def app_data_sizes(self, direction: Direction) -> tuple[int, ...]:
        return self.app_c2s if _check(direction) == "c2s" else self.app_s2c


@dataclass(frozen=True)
class ProxyStats:
    """A consistent-enough snapshot of a :class:`FaultProxy`.

    ``connections`` and ``requests`` count everything since start;
    ``connection_records`` keeps only the most recent connections.
    """

    connections: int
    requests: int
    fired: tuple[FiredFault, ...]
    #: faults taken from the queue whose trigger never happened (e.g. short response)
    missed: tuple[FiredFault, ...]
    connection_records: tuple[ConnectionRecord, ...]
    #: connections open right now
    active: int
    #: connections refused because ``max_connections`` or the concurrency cap was hit
    rejected: int
    #: connections whose upstream connect failed, since start, and the latest of them
    upstream_failures: int = 0
    last_upstream_failure: UpstreamFailure | None = None

    def app_data_sizes(self, direction: Direction) -> list[int]:
        """Lengths of application-data records in ``direction`` across kept connections.

        Excludes handshake records, TLS 1.3 encrypted handshake and session
        tickets, change_cipher_spec and plaintext alerts.
        """
        _check(direction)
        return [size for rec in self.connection_records for size in rec.app_data_sizes(direction)]

    def largest_record(self, direction: Direction) -> int:
        """Largest application-data record length in ``direction`` (0 if none)."""
        _check(direction)
        attr = "largest_app_c2s" if direction == "c2s" else "largest_app_s2c"
        return max((getattr(rec, attr) for rec in self.connection_records), default=0)

    def connection(self, connection_id: int) -> ConnectionRecord:
        """The record of connection ``connection_id``; ``KeyError`` if not kept."""
        for rec in self.connection_records:
            if rec.id == connection_id:
                return rec
        raise KeyError(connection_id)


def _check(direction: str) -> str:
    if direction not in ("c2s", "s2c"):
        raise ValueError(f"direction must be 'c2s' or 's2c', got {direction!r}")
    return direction


class _DirectionLog:
    __slots__ = ("app", "app_count", "count", "largest_app", "lengths", "types")

    def __init__(self) -> None:
        self.types = array("B")
        self.lengths = array("H")
        self.app = array("I")
        self.count = 0
        self.app_count = 0
        self.largest_app = 0

    def add(self, ctype: int, length: int, app: bool) -> None:
        self.count += 1
        if len(self.types) < MAX_STORED_RECORDS:
            self.types.append(ctype)
            self.lengths.append(length)
        if app:
            self.add_app(length)

    def add_app(self, length: int) -> None:
        self.app_count += 1
        if len(self.app) < MAX_STORED_RECORDS:
            self.app.append(length)
        self.largest_app = max(self.largest_app, length)

    def retract_app(self) -> None:
        """The last application-data record turned out not to be data (an alert)."""
        if self.app_count == 0:
            return
        self.app_count -= 1
        if len(self.app) > self.app_count:
            self.app.pop()
            self.largest_app = max(self.app, default=0)


class ConnectionLog:
    """Mutable per-connection counters; the owner serialises access."""

    def __init__(self, connection_id: int) -> None:
        self.id = connection_id
        self.tls_version: str | None = None
        self.mode: str | None = None
        self.requests = 0
        self.session_tickets = 0
        self.error: str | None = None
        self.closed = False
        self.c2s = _DirectionLog()
        self.s2c = _DirectionLog()

    def direction(self, direction: Direction) -> _DirectionLog:
        return self.c2s if direction == "c2s" else self.s2c

    def snapshot(self) -> ConnectionRecord:
        return ConnectionRecord(
            id=self.id,
            tls_version=self.tls_version,
            requests=self.requests,
            records_c2s=tuple(zip(self.c2s.types, self.c2s.lengths, strict=True)),
            records_s2c=tuple(zip(self.s2c.types, self.s2c.lengths, strict=True)),
            app_c2s=tuple(self.c2s.app),
            app_s2c=tuple(self.s2c.app),
            mode=self.mode,
            record_count_c2s=self.c2s.count,
            record_count_s2c=self.s2c.count,
            largest_app_c2s=self.c2s.largest_app,
            largest_app_s2c=self.s2c.largest_app,
            session_tickets=self.session_tickets,
            error=self.error,
            closed=self.closed,
        )
