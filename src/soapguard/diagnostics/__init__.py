"""Diagnostics: events built from the evidence, hints, emitters, tracing and redaction.

Note: ``soapguard.diagnostics`` is also the name of the *logger* events go to.  Modules
of this package that log anything else use loggers outside that name, so an operator's
handler on the event logger receives events and nothing but events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from ..transport.evidence import CallContext
    from .emit import LOGGER_NAME, Emitter
    from .events import attempt_event, call_event
    from .schema import FIELDS, SCHEMA_VERSION, Event, Report, versions

__all__ = [
    "FIELDS",
    "LOGGER_NAME",
    "SCHEMA_VERSION",
    "CallContext",
    "Emitter",
    "Event",
    "Report",
    "attempt_event",
    "call_event",
    "versions",
]
__getattr__, __dir__ = attach(
    __name__,
    {
        **dict.fromkeys(
            ("FIELDS", "SCHEMA_VERSION", "Event", "Report", "attempt_event", "call_event"),
            ".events",
        ),
        "versions": ".events",
        "LOGGER_NAME": ".emit",
        "Emitter": ".emit",
        "CallContext": "..transport.evidence",
    },
)
