"""The shapes of soapguard's diagnostic events: field names and types, and the schema version.

Every event key is always present (``None`` where nothing was observed).  The field
list, :data:`FIELDS`, is derived from the :class:`Event` TypedDict, and
``docs/events.md`` documents every field (a test checks both).  The builders are in
:mod:`soapguard.diagnostics.events`.
"""

from __future__ import annotations

import datetime
import functools
import platform
import ssl
from typing import Literal, TypedDict

__all__ = [
    "FIELDS",
    "SCHEMA_VERSION",
    "CertificateEvent",
    "Event",
    "Kind",
    "Report",
    "timestamp",
    "versions",
]

SCHEMA_VERSION: int = 2

Kind = Literal[
    "soapguard.attempt_failed",
    "soapguard.call_recovered",
    "soapguard.call_failed",
    "soapguard.call_cancelled",
]

#: one event; every key is always present (``None`` where nothing was observed)
Event = TypedDict(
    "Event",
    {
        "event": str,
        "schema_version": int,
        "timestamp": str,
        "rpc.system": str,
        "rpc.service": "str | None",
        "rpc.method": "str | None",
        "url.full": str,
        "server.address": "str | None",
        "server.port": "int | None",
        "network.peer.address": "str | None",
        "attempt": "int | None",
        "max_attempts": int,
        "idempotent": bool,
        "error.type": "str | None",
        "error.origin": "str | None",
        "error.message": "str | None",
        "phase": "str | None",
        "request_sent": "str | None",
        "outcome": "str | None",
        "openssl.library": "str | None",
        "openssl.reason": "str | None",
        "tls.protocol.version": "str | None",
        "tls.cipher": "str | None",
        "tls.resumed": "bool | None",
        "tls.max_send_fragment": "int | None",
        "tls.max_fragment_length": "int | None",
        "tls.caps_applied": "bool | None",
        "tls.records_in": "int | None",
        "tls.records_out": "int | None",
        "tls.largest_record_in": "int | None",
        "bytes_sent": "int | None",
        "bytes_received": "int | None",
        "connection.requests": "int | None",
        "duration_ms": "float | None",
        "decision": "str | None",
        "decision_reason": "str | None",
        "backoff_ms": "float | None",
        "hint": "str | None",
        "versions": "dict[str, str | None]",
        "process.pid": int,
        "endpoint.index": "int | None",
        "circuit.state": "str | None",
        "connection.reused": "bool | None",
        "connection.idle_ms": "float | None",
        "connection.age_ms": "float | None",
        "tls.security_level": "int | None",
        "tls.verify": "bool | None",
        # beyond the required set
        "tls.largest_record_out": "int | None",
        "tls.recent_records_in": "list[int] | None",
        "tls.recent_records_out": "list[int] | None",
        "tls.alert_in": "str | None",
        "tls.alert_out": "str | None",
        "tls.server.pins": "list[str] | None",
        "connection.created_pid": "int | None",
        "http.response.status_code": "int | None",
        "http.response.header.location": "str | None",
        "error.retry_after": "float | None",
        "error.types": "list[str | None] | None",
        "retry_after_s": "float | None",
        "circuit.calls": "int | None",
        "circuit.failures": "int | None",
        "circuit.window_s": "float | None",
        "config.tls_profile": "str | None",
        "config.max_record_size": "int | None",
        "config.read_timeout": "float | None",
        "config.deadline": "float | None",
        "config.pool_idle_timeout": "float | None",
        "config.from_code": "list[str] | None",
        "config.ignored_env": "list[str] | None",
    },
)


#: a certificate that expires within ``SOAPGUARD_CERT_EXPIRY_WARNING`` days (built by
#: :func:`soapguard.diagnostics.expiry.certificate_event`)
CertificateEvent = TypedDict(
    "CertificateEvent",
    {
        "event": str,
        "schema_version": int,
        "timestamp": str,
        "tls.certificate.role": str,
        "tls.certificate.subject": "str | None",
        "tls.certificate.not_after": str,
        "tls.certificate.sha256": str,
        "days_left": int,
        "server.address": "str | None",
        "server.port": "int | None",
        "hint": str,
        "process.pid": int,
    },
)


class Report(Event):
    """What a failed call's exception carries as ``.report``: its final event, plus
    every failed attempt's event."""

    attempts: list[Event]


#: every field an event carries, in documentation order
FIELDS: tuple[str, ...] = tuple(Event.__annotations__)


def versions() -> dict[str, str | None]:
    """Versions of the stack involved (python, openssl, zeep, requests, urllib3, httpx,
    soapguard; httpx is null where it is not installed)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str | None]:
    from importlib import metadata  # ~60 ms: paid on the first event, not at import

    def dist(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    from .. import __version__

    return {
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "zeep": dist("zeep"),
        "requests": dist("requests"),
        "urllib3": dist("urllib3"),
        "httpx": dist("httpx"),
        "soapguard": dist("soapguard") or __version__,
    }


def timestamp() -> str:
    """Now, as events write it: ISO-8601 UTC with milliseconds."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
