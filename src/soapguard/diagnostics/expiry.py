"""Warnings before a certificate expires: ``soapguard.certificate_expiring``.

Expired certificates are a classic outage that nothing announces.  When an
attempt ends on a connection no attempt has used before (new, or opened for the
WSDL download), :func:`notice` looks at the certificate the server presented and
at the configured client certificate (both recorded on the connection's
:class:`~soapguard.transport.evidence.ConnInfo` at handshake time); one that
expires within ``SOAPGUARD_CERT_EXPIRY_WARNING`` days is reported as one event,
through the calling client's emitter.

Each certificate is reported at most once per day per process, whichever client
meets it: a busy service does not log a warning per connection, and an operator
still sees one every day until the certificate is renewed.  The attempt loop
calls :func:`notice` for every attempt, so a connection already looked at costs
one attribute check and a certificate already judged today a dictionary look-up;
only a certificate not yet judged today is parsed.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from ..config import Config
from ..transport.evidence import Attempt
from .emit import Emitter

if TYPE_CHECKING:
    from ..tls.x509 import CertInfo
    from .schema import CertificateEvent

__all__ = ["ExpiryWatch", "certificate_event", "notice", "watch"]

# not under ``soapguard.diagnostics``: that logger carries events only
logger = logging.getLogger("soapguard.expiry")

#: a certificate is reported again after this many seconds
REPEAT_AFTER = 86400.0
#: certificates remembered per process (the oldest is forgotten first)
REMEMBERED = 1024

Role = Literal["server", "client"]


class ExpiryWatch:
    """Which certificates were judged when, in this process.  Thread-safe.

    ``clock`` (monotonic seconds) spaces the reports; ``wall`` (Unix time) counts
    the days left.  Both are injectable, so tests never wait a day.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self._judged: collections.OrderedDict[tuple[Role, str], float] = collections.OrderedDict()
        self._pid = os.getpid()

    def due(self, role: Role, sha256: str) -> bool:
        """Whether ``sha256`` was not judged in the last day; if so, it is judged now."""
        now = self.clock()
        key = (role, sha256)
        with self._lock:
            if self._pid != os.getpid():  # a forked child is another process
                self._judged.clear()
                self._pid = os.getpid()
            last = self._judged.get(key)
            if last is not None and now - last < REPEAT_AFTER:
                return False
            self._judged[key] = now
            self._judged.move_to_end(key)
            while len(self._judged) > REMEMBERED:
                self._judged.popitem(last=False)
            return True

    def forget(self) -> None:
        """Judge every certificate afresh (for tests)."""
        with self._lock:
            self._judged.clear()


#: the process-wide watch :func:`notice` uses
watch = ExpiryWatch()


def notice(attempt: Attempt, emitter: Emitter, config: Config) -> None:
    """After ``attempt`` ended: report its new connection's certificates that expire soon.

    Never raises: a warning must not break the call it is made in.
    """
    conn = attempt.conn
    if conn is None or conn.expiry_noticed or config.cert_expiry_warning <= 0:
        return
    conn.expiry_noticed = True
    try:
        from ..tls.x509 import CertInfo, parse  # once per new connection

        candidates: list[tuple[Role, str | None, bytes | CertInfo | None]] = [
            ("server", conn.cert_sha256, conn.cert_der),
            ("client", conn.client_cert.sha256 if conn.client_cert else None, conn.client_cert),
        ]
        for role, sha256, cert in candidates:
            if cert is None or sha256 is None or not watch.due(role, sha256):
                continue
            info = cert if isinstance(cert, CertInfo) else parse(cert)
            days = info.days_left(watch.wall())
            if days < config.cert_expiry_warning:
                event = certificate_event(
                    role, info, days_left=days, host=conn.host, port=conn.port
                )
                emitter.emit(event)
    except Exception:
        logger.debug("could not check certificate expiry", exc_info=True)


def certificate_event(
    role: Literal["server", "client"],
    cert: CertInfo,
    *,
    days_left: int,
    host: str | None,
    port: int | None,
) -> CertificateEvent:
    """The ``soapguard.certificate_expiring`` event for ``cert`` (met on ``host:port``)."""
    from .schema import SCHEMA_VERSION, timestamp

    when = "has expired" if days_left < 0 else f"expires in {days_left} day(s)"
    if role == "server":
        hint = (
            f"The certificate of {host}:{port} {when} ({cert.not_after_text}), so ask the "
            "server's operators to renew it before then; calls will fail once it expires."
        )
    else:
        hint = (
            f"The client certificate in SOAPGUARD_CLIENT_CERT {when} ({cert.not_after_text}), "
            "so request a new one and point SOAPGUARD_CLIENT_CERT at it before then; the "
            "client cannot be built once it has expired."
        )
    return {
        "event": "soapguard.certificate_expiring",
        "schema_version": SCHEMA_VERSION,
        "timestamp": timestamp(),
        "tls.certificate.role": role,
        "tls.certificate.subject": cert.subject,
        "tls.certificate.not_after": cert.not_after_text,
        "tls.certificate.sha256": cert.sha256,
        "days_left": days_left,
        "server.address": host,
        "server.port": port,
        "hint": hint,
        "process.pid": os.getpid(),
    }
