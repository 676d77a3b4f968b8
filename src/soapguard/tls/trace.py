"""TLS record tracer: record sizes and alerts per connection, via ``SSLContext._msg_callback``.

OpenSSL reports every record header it reads or writes to the message
callback.  :func:`install` counts them into a
:class:`~soapguard.transport.evidence.RecordStats` kept on the socket (one list append
per record; the totals are folded when read), which is the evidence behind
``tls.records_in``, ``tls.largest_record_in`` and the alert fields of diagnostic events
(for example, "the last record before ``bad record MAC`` was 16 KB").

``_msg_callback`` is a private CPython hook; :func:`available` says whether
this interpreter has it.  The callback is cheap and never raises: an
exception escaping it would be re-raised by CPython from the SSL call.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from ..transport.evidence import FOLD_AT, RecordStats, being_sent

logger = logging.getLogger(__name__)

_ATTR = "_soapguard_records"
_HEADER = 0x100  # SSL3_RT_HEADER: data is the record header
_ALERT = 21  # SSL3_RT_ALERT: data is the (decrypted) alert body


def available() -> bool:
    """Whether this interpreter lets us see TLS record headers."""
    content_types = getattr(ssl, "_TLSContentType", None)
    return (
        hasattr(ssl.SSLContext, "_msg_callback")
        and content_types is not None
        and getattr(content_types, "HEADER", None) == _HEADER
    )


def install(ctx: ssl.SSLContext) -> None:
    """Trace every connection made with ``ctx`` (replaces any previous callback).

    The ``ssl.SSLContext._msg_callback`` property wraps the callback in a
    function that turns three ints into enums on every record, which doubles
    the tracer's cost on large responses; the callback only compares ints, so
    it is set on the underlying C descriptor when that is available.  Reading
    ``ctx._msg_callback`` still returns it (``user_function``).
    """
    raw = getattr(super(ssl.SSLContext, ssl.SSLContext), "_msg_callback", None)
    if raw is not None and hasattr(raw, "__set__"):
        try:
            raw.__set__(ctx, _callback)
            return
        except (TypeError, AttributeError):  # pragma: no cover - other interpreter layouts
            pass
    ctx._msg_callback = _callback  # type: ignore[attr-defined]


def stats_for(sock: object) -> RecordStats | None:
    """The record statistics gathered for ``sock`` (an SSLSocket/SSLObject), if traced."""
    stats = getattr(sock, _ATTR, None)
    return stats if isinstance(stats, RecordStats) else None


def _new_stats(conn: Any) -> RecordStats | None:
    """Start counting ``conn``'s records (None: it cannot keep them)."""
    stats = RecordStats()
    try:
        setattr(conn, _ATTR, stats)
    except AttributeError:  # an owner object without __dict__: nowhere to keep it
        return None
    # Link to the connection being set up so a failed handshake keeps its evidence.
    attempt = being_sent()
    if attempt is not None and attempt.conn is not None and attempt.conn.records is None:
        attempt.conn.records = stats
    return stats


def _callback(
    conn: Any, direction: str, version: int, content_type: int, msg_type: int, data: bytes
) -> None:
    # OpenSSL calls this once per record header (twice per record under TLS 1.3, which also
    # reports the inner content type), inside its read and write loops: the common path
    # is one attribute look-up and one list append.
    try:
        if content_type == _HEADER:
            if len(data) != 5:  # a TLS (not DTLS) record header
                return
            stats = getattr(conn, _ATTR, None)
            if stats is None:
                stats = _new_stats(conn)
                if stats is None:
                    return
            sizes = stats.sizes_in if direction == "read" else stats.sizes_out
            sizes.append((data[3] << 8) | data[4])
            if len(sizes) >= FOLD_AT:
                stats.fold()
        elif content_type == _ALERT and len(data) >= 2:
            stats = getattr(conn, _ATTR, None) or _new_stats(conn)
            if stats is None:
                return
            alert = (data[0], data[1])
            if direction == "read":
                stats.alert_in = alert
            else:
                stats.alert_out = alert
    except Exception:  # never let tracing break the TLS call
        logger.debug("record tracer failed", exc_info=True)


# what ssl.SSLContext._msg_callback's getter returns for a raw-installed callback
_callback.user_function = _callback  # type: ignore[attr-defined]
