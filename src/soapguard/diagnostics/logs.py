"""Redaction of other libraries' log records, only inside soapguard calls.

zeep logs whole envelopes (WS-Security passwords included) at DEBUG, and
urllib3 logs request URLs with their query strings (and, when a response's
headers do not parse, a warning with the URL and the unparsed data).

:func:`install_log_redaction` adds one :class:`RedactingFilter` to each logger
in :data:`LOGGERS` (zeep's and urllib3's modules that log).  The filter is
inert outside soapguard calls: it rewrites a record only when it is emitted
while a soapguard call runs in the same thread or task, that is while a
:class:`~soapguard.diagnostics.secrets.SecretScope` is active.  Then:

* the message is formatted, redacted with that call's scope and cut to
  :data:`~soapguard.diagnostics.redact.LOG_LIMIT` characters (``record.args`` becomes
  ``None``);
* ``exc_info`` is kept, and the messages of every exception in its chain are
  scrubbed in place, so handlers format a clean traceback;
* ``exc_text`` and ``stack_info`` already present are redacted.

Every other record, a plain ``zeep.Client``'s in the same process included,
passes through untouched, byte for byte.

Installation is idempotent: one shared filter, added at most once per
logger.  Building a :class:`soapguard.Client` or :class:`soapguard.Transport`
installs it.  :func:`remove_log_redaction` takes it off every logger again
(clients built later install it again); records of calls that run while it is
removed are not rewritten.
"""

from __future__ import annotations

import logging
import threading

from .secrets import active_scope

__all__ = ["LOGGERS", "RedactingFilter", "install_log_redaction", "remove_log_redaction"]

#: loggers whose records can carry envelopes, URLs or values: every zeep (4.3.x),
#: urllib3 (2.x), httpx and httpcore module that logs
LOGGERS = (
    "zeep",
    *(f"zeep.{name}" for name in ("transports", "wsdl.bindings.soap", "wsdl.bindings.http")),
    *(f"zeep.{name}" for name in ("wsdl.wsdl", "cache", "client", "proxy", "xsd.schema")),
    *(f"zeep.xsd.{name}" for name in ("visitor", "types.simple", "types.complex", "types.any")),
    *(f"zeep.xsd.elements.{name}" for name in ("attribute", "element", "any")),
    *(f"urllib3.{name}" for name in ("connection", "connectionpool", "poolmanager", "response")),
    *(f"urllib3.{name}" for name in ("util.retry", "http2.connection", "contrib.pyopenssl")),
    "urllib3.contrib.emscripten.response",
    # the async client: httpx logs each request's URL, httpcore its connection events
    "httpx",
    *(f"httpcore.{name}" for name in ("connection", "http11", "http2", "proxy", "socks")),
)

_WITHHELD = "[soapguard: message withheld, it could not be redacted]"


class RedactingFilter(logging.Filter):
    """Rewrites records emitted inside a soapguard call into their redacted form."""

    def filter(self, record: logging.LogRecord) -> bool:
        if active_scope() is not None:
            redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> None:
    """Rewrite ``record`` in place with the active scope; never raises."""
    from .redact import LOG_LIMIT, redact_message, redact_text  # a record inside a call
    from .scrub import scrub_chain

    try:
        record.msg = redact_message(record.getMessage(), limit=LOG_LIMIT)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            scrub_chain(record.exc_info[1])
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, limit=LOG_LIMIT)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, limit=LOG_LIMIT)
    except Exception:  # a log call must never fail, nor leak because redaction did
        record.msg = _WITHHELD
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None


_lock = threading.Lock()
_filter = RedactingFilter()
#: the loggers of LOGGERS (logging keeps one object per name for the life of the process)
_loggers: list[logging.Logger] = []


def install_log_redaction() -> None:
    """Add the shared :class:`RedactingFilter` to every logger in :data:`LOGGERS`.

    Idempotent.  The filter only rewrites records emitted inside soapguard
    calls; see the module documentation.
    """
    with _lock:
        if not _loggers:
            _loggers.extend(logging.getLogger(name) for name in LOGGERS)
        for log in _loggers:
            if _filter not in log.filters:
                log.addFilter(_filter)


def remove_log_redaction() -> None:
    """Take the filter off every logger it was added to; other filters stay as they were."""
    with _lock:
        for log in [logging.getLogger(), *list(logging.Logger.manager.loggerDict.values())]:
            if isinstance(log, logging.Logger) and _filter in log.filters:
                log.removeFilter(_filter)
