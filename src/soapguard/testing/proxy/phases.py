"""Where a TLS connection is, judged from record headers alone: handshake, tickets, data.

:class:`TLSPhases` sees every record of one connection in both directions and
says what each one is.  It knows the quirks that make this hard without
decrypting: in TLS 1.3 every encrypted record is type 23 on the wire, the
client's first one is its Finished, the server's ones before that are its
encrypted handshake, and the server's NewSessionTickets arrive *after* the
handshake, possibly after the client has already sent its first request.
The owner serialises calls (``Session`` holds its lock).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from .records import (
    APPLICATION_DATA,
    CHANGE_CIPHER_SPEC,
    HANDSHAKE,
    server_hello_version,
)

#: ``control``: handshake, change_cipher_spec, alert, or anything else not data;
#: ``corrupt_point``: the server's first encrypted handshake record;
#: ``ticket``: a TLS 1.3 post-handshake record from the server counted as a session ticket;
#: ``data``: application data; ``hold``: application data that must wait (see ``Session``).
Kind = Literal["control", "corrupt_point", "ticket", "data", "hold"]

#: an encrypted TLS 1.3 alert: 2 bytes, content type byte, 16-byte (or CCM_8: 8-byte) tag
ALERT_SIZES = (19, 11)
#: bounds of the quiet period that ends TLS 1.3 session-ticket detection
SETTLE_MIN = 0.05
SETTLE_MAX = 1.0


class TLSPhases:
    def __init__(self, tickets_hint: Callable[[], int | None], clock: Callable[[], float]) -> None:
        self._tickets_hint = tickets_hint
        self._clock = clock
        self.version: str | None = None
        self.tls13 = False
        self._server_hello = False
        self._client_finished = False
        self._server_ccs = False
        self._server_encrypted = False
        #: how many server records after the client's Finished are tickets (None: unknown)
        self.tickets_expected: int | None = None
        self.tickets = 0
        self.last_ticket = 0.0
        self._first_c2s: float | None = None
        self.rtt: float | None = None

    def client(self, ctype: int) -> Kind:
        if self._first_c2s is None:
            self._first_c2s = self._clock()
        if ctype != APPLICATION_DATA or not self._server_hello:
            return "control"
        if self.tls13 and not self._client_finished:
            self._client_finished = True  # the client's first encrypted record is its Finished
            return "control"
        if self.tls13 and self.tickets_expected is None:
            return "hold"
        return "data"

    def server(self, ctype: int, record: bytes, requests_started: bool) -> Kind:
        if self.rtt is None and self._first_c2s is not None:
            self.rtt = self._clock() - self._first_c2s
        if ctype == CHANGE_CIPHER_SPEC:
            self._server_ccs = True
            return "control"
        if ctype == HANDSHAKE:
            if not self._server_ccs and record[5:6] == b"\x02":
                self._on_server_hello(record)
            elif self._server_ccs and not self.tls13 and not self._server_encrypted:
                self._server_encrypted = True  # TLS 1.2: the server's encrypted Finished
                return "corrupt_point"
            return "control"
        if ctype != APPLICATION_DATA:
            return "control"
        if self.tls13 and not self._client_finished:
            if self._server_encrypted:
                return "control"
            self._server_encrypted = True  # TLS 1.3: EncryptedExtensions
            return "corrupt_point"
        if self.tls13 and self._is_ticket(requests_started):
            return "ticket"
        return "data"

    def settle_deadline(self, start: float) -> float:
        """When, absent new tickets, the server's ticket burst can be taken as over.

        The quiet period is four round trips as measured during the handshake,
        between ``SETTLE_MIN`` and ``SETTLE_MAX`` seconds.
        """
        window = min(SETTLE_MAX, max(SETTLE_MIN, 4 * (self.rtt or 0.0)))
        return max(start, self.last_ticket) + window

    def settled(self) -> int:
        """Fix the ticket count for this connection to what has been seen; return it."""
        if self.tickets_expected is None:
            self.tickets_expected = self.tickets
        return self.tickets_expected

    def _on_server_hello(self, record: bytes) -> None:
        self._server_hello = True
        version = server_hello_version(record)
        if version is not None:
            self.version = version
            self.tls13 = version == "TLSv1.3"
        if self.tls13 and self.tickets_expected is None:
            self.tickets_expected = self._tickets_hint()

    def _is_ticket(self, requests_started: bool) -> bool:
        expected = self.tickets_expected
        if (expected is None and not requests_started) or (
            expected is not None and self.tickets < expected
        ):
            self.tickets += 1
            self.last_ticket = self._clock()
            return True
        return False
