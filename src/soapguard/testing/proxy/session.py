"""Per-connection bookkeeping: request boundaries, fault decisions and the connection log.

:class:`Session` does no I/O.  The two pumps of a proxied connection hand it
each whole TLS record (or, for plain TCP, each chunk) *before* forwarding it,
and it answers with a :class:`~._verdict.Verdict`: forward, forward a damaged
copy, stall, or abort.  Everything runs under one condition variable, so both
directions see the same view of the connection.

Boundaries come from record flow alone (nothing is decrypted): a request starts
with the first client application-data record after the handshake, or the
first one after the server has sent response data (HTTP/1.1 keep-alive requests
are sequential); its response is the server application-data records that
follow, up to the next request.  :class:`~._phases.TLSPhases` says which
records are application data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .faults import CHUNKED_RESPONSE, CLOSE_DELIMITED_RESPONSE, CORRUPT_HANDSHAKE, Fault, Scope
from .http1 import Reframer
from .phases import ALERT_SIZES, TLSPhases
from .queue import Taken
from .records import HEADER_LEN, flip_offset, looks_like_tls
from .stats import ConnectionLog, ConnectionRecord, FiredFault, UpstreamFailure
from .verdict import FLIP, FORWARD, HOLD, Verdict, on_request, respond

logger = logging.getLogger(__name__)


class Host(Protocol):
    """What a session needs from its proxy."""

    def take_fault(self, scope: Scope, tls: bool | None) -> Taken | None: ...
    def put_back(self, fault: Fault) -> None: ...
    def report(self, event: FiredFault, fired: bool) -> None: ...
    def upstream_failed(self, failure: UpstreamFailure) -> None: ...
    def request_started(self) -> None: ...
    def tickets_hint(self) -> int | None: ...
    def learn_tickets(self, count: int) -> None: ...


class Session:
    def __init__(
        self,
        connection_id: int,
        host: Host,
        connection_fault: Taken | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cond = threading.Condition()
        self.log = ConnectionLog(connection_id)
        self._host = host
        self._conn_fault = connection_fault
        self._clock = clock
        self._tls = TLSPhases(host.tickets_hint, clock)
        self._mode: str | None = None
        self._broken = False
        self._interrupted = False
        self._client_eof = False
        self._request = 0
        self._in_request = False
        self._response_started = False
        self._fault: Taken | None = None
        self._resp_units = 0
        self._resp_bytes = 0
        self._last_response_record: int | None = None
        self._reframer: Reframer | None = None
        #: when a byte last went through, either way (``idle-reset`` measures from it)
        self._last_activity = clock()

    # -- called by the pumps ------------------------------------------------------------

    def detect(self, first_byte: int) -> str:
        """Decide once, from the first byte seen in either direction, if this is TLS."""
        with self._cond:
            if self._mode is None:
                self._mode = self.log.mode = "tls" if looks_like_tls(first_byte) else "plain"
                taken = self._conn_fault
                if self._mode == "plain" and taken is not None:
                    self._conn_fault = None
                    if taken.queued:  # a TLS fault: keep it for a connection that speaks TLS
                        self._host.put_back(taken.fault)
                    else:
                        self._fire(taken.fault, None, "not applied: connection is not TLS", False)
            return self._mode

    def client_record(self, ctype: int, record: bytes) -> Verdict:
        length = len(record) - HEADER_LEN
        with self._cond:
            idle = self._touch()
            kind = "control" if self._broken else self._tls.client(ctype)
            if kind == "hold":
                if not self._interrupted:
                    return HOLD
                kind = "data"
            if kind == "data" and self._tls.tls13 and length in ALERT_SIZES:
                # an encrypted alert (e.g. bad_record_mac after a flip), not a request
                starts = not self._in_request or self._response_started
                kind = "control" if starts else kind
            self.log.c2s.add(ctype, length, app=kind == "data")
            if kind != "data":
                return FORWARD
            return self._request_unit(length, idle, None)

    def server_record(self, ctype: int, record: bytes) -> Verdict:
        length = len(record) - HEADER_LEN
        with self._cond:
            self._touch()
            kind = "control" if self._broken else self._tls.server(ctype, record, self._request > 0)
            self.log.tls_version = self._tls.version
            if kind == "ticket":
                self.log.session_tickets = self._tls.tickets
                self._cond.notify_all()
            data = kind == "data" and self._in_request
            if data and self._client_eof and self._tls.tls13 and length in ALERT_SIZES:
                data = False  # the server's alert about the client's unclean close
            self.log.s2c.add(ctype, length, app=data)
            self._last_response_record = length if data else None
            if kind == "corrupt_point":
                return self._corrupt(length)
            return self._response_unit(length, tls=True) if data else FORWARD

    def client_chunk(self, data: bytes) -> Verdict:
        """Plain TCP: a chunk read from the client."""
        with self._cond:
            idle = self._touch()
            if self._broken:
                return FORWARD
            self.log.c2s.add_app(len(data))
            return self._request_unit(len(data), idle, data)

    def server_chunk(self, data: bytes) -> Verdict:
        """Plain TCP: a chunk read from the server."""
        with self._cond:
            self._touch()
            if self._broken or not self._in_request:
                return FORWARD
            self.log.s2c.add_app(len(data))
            if self._reframer is not None:
                return self._reframe(data)
            return self._response_unit(len(data), tls=False)

    def settle_tickets(self) -> None:
        """TLS 1.3: wait until the server's post-handshake session tickets have arrived.

        Called with the client's first request record held back and its
        Finished already forwarded.  Servers send NewSessionTickets right after
        reading the client's Finished and before reading any request, so once
        the server has been quiet for a few round trips, every encrypted record
        it sent after the Finished was a ticket.  The count is then fixed for
        this connection and offered to the proxy, which uses it for later
        connections without waiting: tickets always precede the response in the
        stream, so counting them is exact as long as the server is consistent.
        """
        with self._cond:
            start = self._clock()
            while not self._interrupted:
                remaining = self._tls.settle_deadline(start) - self._clock()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            count = self._tls.settled()
            if not self._interrupted:
                self._host.learn_tickets(count)

    def eof(self, direction: str) -> None:
        """One side closed.  A tiny last TLS 1.3 record from the server was an alert."""
        with self._cond:
            self._client_eof = self._client_eof or direction == "c2s"
            last = self._last_response_record
            if direction == "s2c" and self._tls.tls13 and last in ALERT_SIZES:
                self.log.s2c.retract_app()
                self._last_response_record = None

    def mark_broken(self, reason: str) -> None:
        """The stream stopped parsing as TLS: pass bytes through, inject nothing more."""
        with self._cond:
            if not self._broken:
                logger.debug("connection %d: passing bytes through: %s", self.log.id, reason)
                self._broken = True
                self._finish_faults(f"not applied: {reason}")

    def connect_failed(self, error: str) -> None:
        """The upstream could not be reached (``error``: why); the proxy is told too."""
        with self._cond:
            self.log.error = f"upstream connect failed: {error}"
            self._host.upstream_failed(UpstreamFailure(self.log.id, error))

    def interrupt(self) -> None:
        """Wake any wait in :meth:`settle_tickets`: the connection is going away."""
        with self._cond:
            self._interrupted = True
            self._cond.notify_all()

    def finish(self) -> None:
        """The connection is closed: report faults that never triggered."""
        with self._cond:
            self._finish_faults("not triggered: connection closed first")
            self.log.closed = True
            self._interrupted = True
            self._cond.notify_all()

    def snapshot(self) -> ConnectionRecord:
        with self._cond:
            return self.log.snapshot()

    # -- internals (lock held) ----------------------------------------------------------

    def _touch(self) -> float:
        """Seconds since a byte last went through; from now on, none."""
        now = self._clock()
        idle, self._last_activity = now - self._last_activity, now
        return idle

    def _request_unit(self, size: int, idle: float, plain: bytes | None) -> Verdict:
        """The first unit of a request; ``plain`` is its bytes on a plain-TCP connection."""
        if self._in_request and not self._response_started:
            return FORWARD  # more of the same request
        self._finish_request("not triggered: the response ended first")
        self._request += 1
        self.log.requests = self._request
        self._in_request = True
        self._response_started = False
        self._resp_units = self._resp_bytes = 0
        self._reframer = None
        self._host.request_started()
        self._fault = taken = self._host.take_fault("request", self._mode == "tls")
        if taken is None:
            return FORWARD
        fault = taken.fault
        outcome = on_request(fault, size, idle, plain)
        if outcome == "response":
            if fault.kind in (CHUNKED_RESPONSE, CLOSE_DELIMITED_RESPONSE):
                self._reframer = Reframer("chunked" if fault.kind == CHUNKED_RESPONSE else "close")
            return FORWARD
        self._fault = None
        if outcome == "later":
            if taken.queued:  # this request does not meet its condition: a later one may
                self._host.put_back(fault)
            return FORWARD
        verdict, detail = outcome
        self._fire(fault, self._request, detail, True)
        return verdict

    def _reframe(self, data: bytes) -> Verdict:
        reframer, taken = self._reframer, self._fault
        assert reframer is not None
        self._response_started = True
        self._resp_units += 1
        self._resp_bytes += len(data)
        was = reframer.state
        out = reframer.feed(data)
        if was == "head" and reframer.state != "head" and taken is not None:
            self._fault = None
            if reframer.state == "passthrough":
                reason = "not applied: the response has no Content-Length"
                self._fire(taken.fault, self._request, reason, False)
            else:
                how = "chunked" if reframer.mode == "chunked" else "close-delimited, then closed"
                detail = f"sent the {reframer.length}-byte response {how}"
                self._fire(taken.fault, self._request, detail, True)
        close = reframer.mode == "close" and reframer.state == "done"
        return Verdict(data=out, close_after=close)

    def _response_unit(self, size: int, tls: bool) -> Verdict:
        self._response_started = True
        self._resp_units += 1
        before = self._resp_bytes
        self._resp_bytes += size
        taken = self._fault
        if taken is None:
            return FORWARD
        decision = respond(taken.fault, self._resp_units, before, self._resp_bytes, tls)
        if decision is None:
            return FORWARD
        self._fault = None
        self._fire(taken.fault, self._request, decision[1], True)
        return decision[0]

    def _corrupt(self, length: int) -> Verdict:
        taken = self._conn_fault
        if taken is None or taken.fault.kind != CORRUPT_HANDSHAKE:
            return FORWARD
        self._conn_fault = None
        what = "first encrypted handshake record" if self._tls.tls13 else "encrypted Finished"
        detail = f"flipped byte {flip_offset(length)} of the server's {what} ({length} bytes)"
        self._fire(taken.fault, None, f"{detail}, {self._tls.version}", True)
        return FLIP

    def _finish_request(self, reason: str) -> None:
        taken, self._fault = self._fault, None
        if taken is not None:
            detail = f"{reason} ({self._resp_units} response units, {self._resp_bytes} bytes)"
            self._fire(taken.fault, self._request, detail, False)

    def _finish_faults(self, reason: str) -> None:
        self._finish_request(reason)
        taken, self._conn_fault = self._conn_fault, None
        if taken is not None:
            self._fire(taken.fault, None, reason, False)

    def _fire(self, fault: Fault, request: int | None, detail: str, fired: bool) -> None:
        event = FiredFault(fault.kind, str(fault), self.log.id, request, detail)
        self._host.report(event, fired)
