"""Log redaction: a filter that rewrites records through :mod:`soapguard.diagnostics.redact`.

zeep logs whole envelopes (WS-Security passwords included) at DEBUG, and
urllib3 logs request paths with their query strings.  While a soapguard client
is in use, :func:`install_zeep_log_redaction` puts one shared
:class:`RedactingFilter` on those loggers, so no secret reaches any handler at
any level.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterable

from .redact import (
    _names,
    redact_message,
    redact_text,
    register_secrets,
    truncate,
)

__all__ = ["ZEEP_LOGGERS", "RedactingFilter", "install_zeep_log_redaction"]


class RedactingFilter(logging.Filter):
    """Rewrites each record it sees into its redacted, fully formatted message.

    ``record.msg`` becomes the redacted text and ``record.args`` ``None``; an
    exception's traceback is formatted, redacted into ``record.exc_text`` and
    ``record.exc_info`` cleared, so no handler can format the raw exception.
    """

    def __init__(self, sensitive: Iterable[str] = (), *, limit: int | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._sensitive = _names(sensitive)
        self.limit = limit

    @property
    def sensitive(self) -> frozenset[str]:
        return self._sensitive

    def add_sensitive(self, names: Iterable[str]) -> None:
        with self._lock:
            self._sensitive = self._sensitive | _names(names)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = redact_message(record.getMessage(), self._sensitive)
            record.msg = message if self.limit is None else truncate(message, self.limit)
            if record.exc_info and not record.exc_text:
                record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            if record.exc_text:
                record.exc_text = redact_text(record.exc_text)
            if record.stack_info:
                record.stack_info = redact_text(record.stack_info)
        except Exception:  # a log call must never fail, nor leak because redaction did
            record.msg = "[soapguard: message withheld, it could not be redacted]"
            record.exc_text = None
            record.stack_info = None
        record.args = None
        record.exc_info = None
        return True


#: zeep loggers (4.3.x) whose records can carry envelopes, URLs or values, plus urllib3's
#: connection pool, which logs request paths with their query strings
ZEEP_LOGGERS = (
    *(f"zeep.{name}" for name in ("transports", "wsdl.bindings.soap", "wsdl.bindings.http")),
    *(f"zeep.{name}" for name in ("wsdl.wsdl", "cache", "client", "proxy", "xsd.schema")),
    *(f"zeep.xsd.{name}" for name in ("visitor", "types.simple", "types.complex", "types.any")),
    *(f"zeep.xsd.elements.{name}" for name in ("attribute", "element", "any")),
    "zeep",
    "urllib3.connectionpool",
)

_install_lock = threading.Lock()
_zeep_filter: RedactingFilter | None = None


def install_zeep_log_redaction(sensitive: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
    """Put one shared :class:`RedactingFilter` on every logger in :data:`ZEEP_LOGGERS`.

    Idempotent; later calls merge their sensitive names and secrets into it.
    """
    global _zeep_filter
    register_secrets(secrets)
    with _install_lock:
        if _zeep_filter is None:
            _zeep_filter = RedactingFilter(sensitive)
        else:
            _zeep_filter.add_sensitive(sensitive)
        for name in ZEEP_LOGGERS:
            log = logging.getLogger(name)
            if _zeep_filter not in log.filters:
                log.addFilter(_zeep_filter)
