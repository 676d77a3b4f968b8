"""Diagnostic events (SPEC §6): building them from observations and emitting them.

:func:`attempt_event` turns one classified failure plus what the connection
observed (:class:`~soapguard._state.Progress`, ``ConnInfo``, ``RecordStats``)
into a flat dict with every SPEC §6 field; a fact that was not observed is
``None``, never guessed.  :func:`call_event` summarises a call that recovered
or failed.  :class:`Emitter` sends each event to the ``soapguard.diagnostics``
logger (record attribute ``soapguard``), to ``SOAPGUARD_DIAGNOSTICS_FILE`` as
one JSON line, and to ``Config.on_event``.  Emitting never raises into a call.

The schema is documented in ``docs/events.md``.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import logging
import os
import platform
import ssl
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from ._state import Failure, Progress
from .classify import failure_fields
from .config import Config
from .hints import hint_for
from .redact import redact_text, redact_url, truncate

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
LOGGER_NAME = "soapguard.diagnostics"
logger = logging.getLogger(LOGGER_NAME)

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
    event["error.message"] = truncate(redact_text(failure.message), MESSAGE_LIMIT)
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


def _level(event: dict[str, Any]) -> int:
    kind = event.get("event")
    if kind == "soapguard.attempt_failed":
        return logging.WARNING if event.get("decision") == "retry" else logging.ERROR
    if kind == "soapguard.call_recovered":
        return logging.WARNING
    if kind == "soapguard.call_failed":
        return logging.ERROR
    return logging.INFO


def _summary(event: dict[str, Any]) -> str:
    """One line: what was called, what failed where, what soapguard did about it, the hint."""
    kind = event.get("event")
    method = ".".join(str(p) for p in (event.get("rpc.service"), event.get("rpc.method")) if p)
    head = f"{kind} {method or event.get('url.full')}"
    if kind == "soapguard.attempt_failed":
        head += f" attempt {event.get('attempt')}/{event.get('max_attempts')}"
    else:
        head += f" after {event.get('attempt')} attempt(s)"
    origin = f" ({event['error.origin']})" if event.get("error.origin") else ""
    where = f" during {event['phase']}" if event.get("phase") else ""
    last = "last failure " if kind == "soapguard.call_recovered" else ""
    parts = [f"{last}{event.get('error.type')}{origin}{where}"]
    parts.append(f"request_sent={event.get('request_sent')}")
    if kind != "soapguard.call_recovered":
        parts.append(f"decision={event.get('decision')} ({event.get('decision_reason')})")
    if event.get("hint"):
        parts.append(f"hint: {event['hint']}")
    return f"{head}: {', '.join(parts)}"


class Emitter:
    """Sends events to the log, the diagnostics file and the ``on_event`` hook."""

    def __init__(self, config: Config) -> None:
        self._path = config.diagnostics_file
        self._hook = config.on_event
        self._file_warned = False

    def emit(self, event: dict[str, Any]) -> None:
        level = _level(event)
        if logger.isEnabledFor(level):
            logger.log(level, "%s", _summary(event), extra={"soapguard": event})
        if self._path:
            self._write(self._path, event)
        if self._hook is not None:
            try:
                self._hook(copy.deepcopy(event))
            except Exception:
                logger.exception("soapguard on_event hook raised; the call is not affected")

    def _write(self, path: str, event: dict[str, Any]) -> None:
        try:
            line = json.dumps(event, default=str, sort_keys=True) + "\n"
            data = line.encode("utf-8")
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            # opened per event: survives fork() and log rotation; O_APPEND + one write()
            # keeps lines whole across threads and processes
            fd = os.open(path, flags, 0o600)
            try:
                written = os.write(fd, data)
                while written < len(data):  # short writes are rare; finish the line anyway
                    written += os.write(fd, data[written:])
            finally:
                os.close(fd)
        except Exception as exc:
            if not self._file_warned:
                self._file_warned = True
                reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
                logger.warning(
                    "soapguard could not write to SOAPGUARD_DIAGNOSTICS_FILE (%s); "
                    "events still go to this logger",
                    reason,
                )
