"""Diagnostic events: what an operator is told about a failed attempt and about a call.

:func:`attempt_event` turns one classified failure plus what its attempt observed
(:class:`~soapguard.transport.evidence.Attempt`, ``ConnInfo``, ``RecordStats``) into a
flat dict; a fact that was not observed is ``None``, never guessed.  :func:`call_event`
summarises a call that recovered or failed, and :func:`report` is what a failed call's
exception carries as ``.report``.  The shapes (and :data:`FIELDS`) are in
:mod:`soapguard.diagnostics.schema`; ``docs/events.md`` documents every field.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from .._urls import origin
from ..classify.failure import Failure
from ..config import Config
from ..transport.evidence import Attempt, CallContext
from .schema import (
    FIELDS,
    SCHEMA_VERSION,
    CertificateEvent,
    Event,
    Kind,
    Report,
    timestamp,
    versions,
)

if TYPE_CHECKING:
    from ..retry.breaker import Transition

__all__ = [
    "FIELDS",
    "SCHEMA_VERSION",
    "CertificateEvent",
    "Event",
    "Report",
    "attempt_event",
    "call_event",
    "call_failure",
    "cancelled_event",
    "circuit_event",
    "report",
    "versions",
]

#: message length kept in events; the full text stays on the exception chain
MESSAGE_LIMIT = 1024
_ALERT_LEVELS = {1: "warning", 2: "fatal"}


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


def _skeleton(kind: Kind, ctx: CallContext) -> Event:
    event = cast(Event, dict.fromkeys(FIELDS))
    target = origin(ctx.url)
    event["event"] = kind
    event["schema_version"] = SCHEMA_VERSION
    event["timestamp"] = timestamp()
    event["rpc.system"] = "soap"
    event["rpc.service"] = ctx.service
    event["rpc.method"] = ctx.method
    event["url.full"] = redact_url(ctx.url)
    event["server.address"] = target.host or None
    event["server.port"] = target.port
    event["max_attempts"] = ctx.max_attempts
    event["idempotent"] = ctx.idempotent
    event["versions"] = versions()
    event["process.pid"] = os.getpid()
    return event


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _failure(event: Event, failure: Failure) -> None:
    event["error.type"] = failure.type
    event["error.origin"] = failure.origin
    event["error.message"] = redact_text(failure.message, limit=MESSAGE_LIMIT)
    event["phase"] = failure.phase
    event["request_sent"] = failure.request_sent
    event["outcome"] = failure.outcome
    event["openssl.library"] = failure.library
    event["openssl.reason"] = failure.reason
    event["http.response.status_code"] = failure.http_status
    event["error.retry_after"] = failure.retry_after


def _observed(event: Event, attempt: Attempt) -> None:
    event["bytes_sent"] = attempt.bytes_sent
    event["connection.reused"] = attempt.reused_connection
    event["connection.idle_ms"] = _ms(attempt.idle_before)
    event["connection.age_ms"] = _ms(attempt.connection_age)
    if event["http.response.status_code"] is None:
        event["http.response.status_code"] = attempt.status
    status = event["http.response.status_code"] or 0
    location = header(attempt.response_headers, "Location")
    if location is not None and 300 <= status < 400:
        event["http.response.header.location"] = redact_url(location)
    conn = attempt.conn
    if conn is None:
        return
    event["server.address"] = conn.host
    event["server.port"] = conn.port
    event["network.peer.address"] = conn.peer_address
    event["tls.protocol.version"] = conn.tls_version
    event["tls.cipher"] = conn.cipher
    event["tls.resumed"] = conn.resumed
    event["tls.max_send_fragment"] = conn.max_send_fragment
    event["tls.max_fragment_length"] = conn.max_fragment_length
    event["tls.caps_applied"] = conn.caps_applied
    event["tls.security_level"] = conn.security_level
    event["connection.requests"] = conn.requests
    event["connection.created_pid"] = conn.created_pid
    if conn.server_pins is not None:
        event["tls.server.pins"] = list(conn.server_pins)
    rec = conn.records
    if rec is None:
        return
    event["tls.records_in"] = rec.records_in
    event["tls.records_out"] = rec.records_out
    event["tls.largest_record_in"] = rec.largest_record_in
    event["tls.largest_record_out"] = rec.largest_record_out
    event["tls.recent_records_in"] = list(rec.recent_in)
    event["tls.recent_records_out"] = list(rec.recent_out)
    event["tls.alert_in"] = _alert(rec.alert_in)
    event["tls.alert_out"] = _alert(rec.alert_out)
    event["bytes_received"] = rec.bytes_in


def attempt_event(
    ctx: CallContext,
    attempt: Attempt,
    failure: Failure,
    *,
    decision: Literal["retry", "raise"],
    decision_reason: str,
    backoff_ms: float | None,
    duration_ms: float,
    config: Config,
) -> Event:
    """The ``soapguard.attempt_failed`` event for one failed attempt."""
    event = _skeleton("soapguard.attempt_failed", ctx)
    event["attempt"] = attempt.number
    _failure(event, failure)
    event["duration_ms"] = duration_ms
    event["decision"] = decision
    event["decision_reason"] = decision_reason
    event["backoff_ms"] = backoff_ms
    event["config.tls_profile"] = config.tls_profile
    event["config.max_record_size"] = config.max_record_size
    event["config.read_timeout"] = config.read_timeout
    event["config.deadline"] = config.deadline
    event["url.full"] = redact_url(attempt.endpoint or ctx.url)
    target = origin(attempt.endpoint or ctx.url)
    event["server.address"], event["server.port"] = target.host or None, target.port
    event["endpoint.index"] = attempt.endpoint_index
    event["circuit.state"] = attempt.circuit_state
    event["tls.verify"] = attempt.tls_verify
    event["config.pool_idle_timeout"] = config.pool_idle_timeout
    if attempt.observed or attempt.status is not None:
        _observed(event, attempt)
    event["hint"] = hint_for(event)
    return event


def cancelled_event(
    ctx: CallContext, attempt: Attempt, *, duration_ms: float, config: Config
) -> Event:
    """``soapguard.call_cancelled``: the application cancelled a call whose request may have
    reached the server.

    Nothing failed on the network, so ``error.type`` and ``decision`` are null; what the
    attempt's connection observed is reported as for a failure, and ``outcome`` is
    ``unknown``: the operation may have run.
    """
    event = _skeleton("soapguard.call_cancelled", ctx)
    event["attempt"] = attempt.number
    event["phase"] = attempt.phase
    event["request_sent"] = attempt.request_sent
    event["outcome"] = "unknown"
    event["duration_ms"] = duration_ms
    event["config.tls_profile"] = config.tls_profile
    event["config.deadline"] = config.deadline
    _observed(event, attempt)
    event["hint"] = hint_for(event)
    return event


#: fields a call event does not take over from its last attempt
_OWN = frozenset(
    {"event", "timestamp", "versions", "process.pid", "max_attempts", "idempotent"}
    # said on a client's first event only (see Emitter), never copied from an attempt's
    | {"config.from_code", "config.ignored_env"}
)


def call_event(
    kind: Literal["soapguard.call_recovered", "soapguard.call_failed"],
    ctx: CallContext,
    *,
    attempts: list[Event],
    duration_ms: float,
) -> Event:
    """The summary event of a call; ``attempts`` are its ``attempt_failed`` events.

    The last failed attempt's fields (error, TLS, connection, decision, hint) are
    carried over; ``attempt`` is the number of attempts the call made (for a recovered
    call, the failed ones plus the one that succeeded) and ``error.types`` lists each
    failed attempt's type.
    """
    event = _skeleton(kind, ctx)
    if attempts:
        last = attempts[-1]
        for key in FIELDS:
            if key not in _OWN:
                event[key] = last[key]  # type: ignore[literal-required]
    failed = kind == "soapguard.call_failed"
    event["attempt"] = len(attempts) if failed else len(attempts) + 1
    event["error.types"] = [a["error.type"] for a in attempts]
    event["duration_ms"] = duration_ms
    event["outcome"] = (attempts[-1]["outcome"] if attempts else "failed") if failed else "ok"
    return event


def call_failure(event: Event, failure: Failure, reason: str, extra: Mapping[str, object]) -> None:
    """Fill a call event for a call that failed before any attempt (deadline, breakers)."""
    _failure(event, failure)
    event["attempt"] = 0
    event["decision"] = "raise"
    event["decision_reason"] = reason
    for key, value in extra.items():
        event[key] = value  # type: ignore[literal-required]
    event["hint"] = hint_for(event)


def circuit_event(endpoint: str, transition: Transition) -> dict[str, object]:
    """The event telling the operator an endpoint's breaker opened or closed."""
    target = origin(endpoint)
    return {
        "event": f"soapguard.circuit_{transition.kind}",
        "schema_version": SCHEMA_VERSION,
        "timestamp": timestamp(),
        "url.full": redact_url(endpoint),
        "server.address": target.host or None,
        "server.port": target.port,
        "circuit.state": "open" if transition.kind == "opened" else "closed",
        "calls": transition.calls,
        "failures": transition.failures,
        "open_seconds": transition.open_seconds,
        "versions": versions(),
        "process.pid": os.getpid(),
    }


def report(final: Event, attempts: list[Event]) -> Report:
    """The ``.report`` of a failed call: its final event and its attempts' events."""
    out = cast(Report, dict(final))
    out["attempts"] = list(attempts)
    return out


# -- what building an event needs, loaded with the first event ------------------------------
# Events are built only when an attempt failed, a call recovered or a breaker moved: the
# hint rules, redaction and header parsing are not loaded by a process whose calls succeed.


def hint_for(event: Mapping[str, Any]) -> str | None:
    from .hints import hint_for

    return hint_for(event)


def redact_url(url: str) -> str:
    from .redact import redact_url

    return redact_url(url)


def redact_text(text: str, *, limit: int) -> str:
    from .redact import redact_text

    return redact_text(text, limit=limit)


def header(headers: object, name: str) -> str | None:
    from ..classify._util import header

    return header(headers, name)
