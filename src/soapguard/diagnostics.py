"""Diagnostic events (SPEC §6): building them from observations and emitting them.

:func:`attempt_event` turns one classified failure plus what the connection
observed (:class:`~soapguard._state.Progress`, ``ConnInfo``, ``RecordStats``)
into a flat dict with every SPEC §6 field; a fact that was not observed is
``None``, never guessed.  :func:`call_event` summarises a call that recovered
or failed.  :class:`~soapguard.emit.Emitter` (re-exported here) sends them on.

The schema is documented in ``docs/events.md``.
"""

from __future__ import annotations

import datetime
import functools
import os
import platform
import ssl
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from ._state import Failure, Progress
from .classify import failure_fields
from .config import Config
from .emit import LOGGER_NAME, Emitter
from .hints import hint_for
from .redact import redact_text, redact_url
from .secretscope import SecretScope

__all__ = [
    "FIELDS",
    "LOGGER_NAME",
    "SCHEMA_VERSION",
    "CallContext",
    "Emitter",
    "attempt_event",
    "call_event",
    "versions",
]

SCHEMA_VERSION: int = 1

#: every field an event carries, in documentation order (SPEC §6 first, then extras)
FIELDS: tuple[str, ...] = (
    *("event", "schema_version", "timestamp", "rpc.system", "rpc.service", "rpc.method"),
    *("url.full", "server.address", "server.port", "network.peer.address"),
    *("attempt", "max_attempts", "idempotent", "error.type", "error.origin", "error.message"),
    *("phase", "request_sent", "openssl.library", "openssl.reason", "tls.protocol.version"),
    *("tls.cipher", "tls.resumed", "tls.max_send_fragment", "tls.max_fragment_length"),
    *("tls.caps_applied", "tls.records_in", "tls.records_out", "tls.largest_record_in"),
    *("bytes_sent", "bytes_received", "connection.requests", "duration_ms", "decision"),
    *("decision_reason", "backoff_ms", "hint", "versions", "process.pid"),
    # extras
    *("tls.largest_record_out", "tls.recent_records_in", "tls.recent_records_out"),
    *("tls.alert_in", "tls.alert_out", "connection.created_pid", "connection.reused"),
    *("http.response.status_code", "error.retry_after", "config.tls_profile"),
    *("config.max_record_size", "config.read_timeout", "config.deadline"),
)
#: message length kept in events; the full text stays on the exception chain
MESSAGE_LIMIT = 1024
_ALERT_LEVELS = {1: "warning", 2: "fatal"}


@dataclass(frozen=True)
class CallContext:
    """What is known about a call before its first attempt."""

    service: str | None
    method: str | None
    url: str
    idempotent: bool
    max_attempts: int
    #: the secrets of the client (or standalone transport) making the call: redaction inside
    #: the call masks them by value, and the log filter rewrites the call's records with them
    secrets: SecretScope | None = field(default=None, compare=False, repr=False)


def versions() -> dict[str, str | None]:
    """Versions of the stack involved (python, openssl, zeep, requests, urllib3, soapguard)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str | None]:
    from importlib import metadata  # ~60 ms: paid on the first event, not at import

    def dist(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    from . import __version__

    return {
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "zeep": dist("zeep"),
        "requests": dist("requests"),
        "urllib3": dist("urllib3"),
        "soapguard": dist("soapguard") or __version__,
    }


def _timestamp() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _tls_version(raw: str | None) -> str | None:
    """``"TLSv1.2"`` (ssl's spelling) → ``"1.2"`` (OpenTelemetry's ``tls.protocol.version``)."""
    if raw is None:
        return None
    return raw[4:] if raw.startswith("TLSv") else raw


def _alert(alert: tuple[int, int] | None) -> str | None:
    """``(2, 20)`` → ``"fatal:bad_record_mac"``."""
    if alert is None:
        return None
    level, code = alert
    try:
        desc = ssl.AlertDescription(code).name.removeprefix("ALERT_DESCRIPTION_").lower()
    except ValueError:
        desc = f"unknown({code})"
    return f"{_ALERT_LEVELS.get(level, str(level))}:{desc}"


def _target(url: str) -> tuple[str | None, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme.lower())
        return parts.hostname, port
    except ValueError:
        return None, None


def _skeleton(event: str, ctx: CallContext) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(FIELDS)
    host, port = _target(ctx.url)
    out.update(
        {
            "event": event,
            "schema_version": SCHEMA_VERSION,
            "timestamp": _timestamp(),
            "rpc.system": "soap",
            "rpc.service": ctx.service,
            "rpc.method": ctx.method,
            "url.full": redact_url(ctx.url),
            "server.address": host,
            "server.port": port,
            "max_attempts": ctx.max_attempts,
            "idempotent": ctx.idempotent,
            "versions": dict(versions()),
            "process.pid": os.getpid(),
        }
    )
    return out


def attempt_event(
    ctx: CallContext,
    *,
    attempt: int,
    failure: Failure,
    progress: Progress | None,
    decision: Literal["retry", "raise"],
    decision_reason: str,
    backoff_ms: float | None,
    duration_ms: float,
    config: Config,
) -> dict[str, Any]:
    """The ``soapguard.attempt_failed`` event for one failed attempt."""
    event = _skeleton("soapguard.attempt_failed", ctx)
    event["attempt"] = attempt
    event.update(failure_fields(failure))
    event["error.message"] = redact_text(failure.message, limit=MESSAGE_LIMIT)
    event.update(
        {
            "duration_ms": duration_ms,
            "decision": decision,
            "decision_reason": decision_reason,
            "backoff_ms": backoff_ms,
            "config.tls_profile": config.tls_profile,
            "config.max_record_size": config.max_record_size,
            "config.read_timeout": config.read_timeout,
            "config.deadline": config.deadline,
        }
    )
    if progress is not None:
        event["bytes_sent"] = progress.bytes_sent
        event["connection.reused"] = progress.reused_connection
        if event["http.response.status_code"] is None:
            event["http.response.status_code"] = progress.status
    conn = progress.conn if progress is not None else None
    if conn is not None:
        event.update(
            {
                "server.address": conn.host,
                "server.port": conn.port,
                "network.peer.address": conn.peer_address,
                "tls.protocol.version": _tls_version(conn.tls_version),
                "tls.cipher": conn.cipher,
                "tls.resumed": conn.resumed,
                "tls.max_send_fragment": conn.max_send_fragment,
                "tls.max_fragment_length": conn.max_fragment_length,
                "tls.caps_applied": conn.caps_applied,
                "connection.requests": conn.requests,
                "connection.created_pid": conn.created_pid,
            }
        )
        rec = conn.records
        if rec is not None:
            event.update(
                {
                    "tls.records_in": rec.records_in,
                    "tls.records_out": rec.records_out,
                    "tls.largest_record_in": rec.largest_record_in,
                    "tls.largest_record_out": rec.largest_record_out,
                    "tls.recent_records_in": list(rec.recent_in),
                    "tls.recent_records_out": list(rec.recent_out),
                    "tls.alert_in": _alert(rec.alert_in),
                    "tls.alert_out": _alert(rec.alert_out),
                    "bytes_received": rec.bytes_in,
                }
            )
    event["hint"] = hint_for(event)
    return event


def call_event(
    kind: Literal["soapguard.call_recovered", "soapguard.call_failed"],
    ctx: CallContext,
    *,
    attempts: list[dict[str, Any]],
    duration_ms: float,
) -> dict[str, Any]:
    """The summary event of a call; ``attempts`` are its ``attempt_failed`` events.

    The last failed attempt's fields (error, TLS, connection, decision, hint)
    are carried over; ``attempt`` is the number of attempts the call made
    (for a recovered call, the failed ones plus the one that succeeded) and
    ``error.types`` lists each failed attempt's type.
    """
    event = _skeleton(kind, ctx)
    if attempts:
        fixed = ("event", "timestamp", "versions", "process.pid", "max_attempts", "idempotent")
        event.update({k: v for k, v in attempts[-1].items() if k not in fixed})
    failed = kind == "soapguard.call_failed"
    event["attempt"] = len(attempts) if failed else len(attempts) + 1
    event["error.types"] = [a.get("error.type") for a in attempts]
    event["duration_ms"] = duration_ms
    return event
