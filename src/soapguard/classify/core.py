"""The failure classifier: the one place that maps low-level exceptions to SPEC §4.

:func:`classify` turns whatever an attempt raised -- a ``requests`` exception
wrapping urllib3's ``MaxRetryError`` wrapping an ``ssl.SSLError``, a bare
``ConnectionResetError``, a zeep ``Fault`` -- into a
:class:`~soapguard._state.Failure`: ``error.type``, ``error.origin``, phase,
how much of the request left, the OpenSSL library/reason and a short,
redacted message.  :func:`mapped_errors` applies it httpx-style around a block
and raises soapguard's exception instead.

Evidence, strongest first:

1. ``soapguard.errors.DeadlineExceeded`` is always ``timeout.deadline``.
   A ``.report`` found on an exception in the chain is never evidence: it may
   describe an earlier attempt, and one attempt is judged only by what it saw;
2. the attempt's :class:`~soapguard._state.Progress` (phase, bytes written,
   TLS version, traced records), *if something wrote to it* -- a ``Progress``
   still in its initial state (e.g. behind a mocked transport) is no evidence;
3. structured exception data: exception types, ``errno``, OpenSSL's
   ``library``/``reason`` on the deepest ``ssl.SSLError``;
4. message text, only as a fallback: an ``[SSL: REASON]`` prefix when the
   attributes are missing, pyOpenSSL-style ``('SSL routines', '', 'reason
   text')`` tuples, ``ssl``'s "handshake operation timed out".

Inferences worth knowing:

* ``error.origin`` is ``peer`` for an alert the peer sent (``*_ALERT_*``),
  ``local`` for an OpenSSL error we detected, ``None`` for non-TLS failures,
  for an unexpected EOF (no alert was involved) and for a TLS error that
  carries no reason at all.
* A peer ``handshake_failure`` alert that was the only record the server sent
  (traced ``records_in <= 1``: no ServerHello) is ``tls.no_shared_cipher``.
* A timeout while the observed phase is ``connect``/``handshake`` is
  ``timeout.connect``, whatever urllib3 called it (it reports a stalled
  handshake as a *read* timeout).
* A body cut short (``IncompleteRead``) is ``tls.unexpected_eof`` over TLS --
  urllib3 suppresses ragged EOFs, so that is how a peer closing without
  ``close_notify`` shows -- and ``connection.reset`` over plain HTTP.
* ``retry_after`` is only read for ``http.status`` failures.

Without progress, ``request_sent`` is ``"none"`` only where that is certain
(refused, DNS, connect timeout, a TLS failure that can only happen in the
handshake) and ``"full"`` otherwise: not knowing must never make a
non-idempotent call look safe to replay.  ``phase`` is ``None`` when it cannot
be told.  A response-level failure (``http.status``, ``soap.fault``,
``response.invalid``) means the server got the request: never ``"none"``.

:func:`classify` is total: it never raises.  What no rule recognises becomes
``tls.other`` if anything TLS is in the chain, ``connection.reset`` for
other network errors (``OSError``, ``requests.ConnectionError``) and
``response.invalid`` (never retried) for anything else.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import requests.exceptions as rex
import urllib3.exceptions as u3

from ..errors import DeadlineExceeded, SoapGuardError, error_for
from ..transport.evidence import Failure, Phase, Progress, RequestSent
from . import rules
from ._util import (
    first,
    header,
    message_for,
    parse_retry_after,
    redact,
    safe_getattr,
    walk,
)

__all__ = ["TYPES", "chain", "classify", "failure_fields", "mapped_errors", "parse_retry_after"]

logger = logging.getLogger(__name__)

#: every ``error.type`` of SPEC §4
TYPES = rules.TYPES

_RESPONSE_TYPES = frozenset({"http.status", "soap.fault", "response.invalid"})

#: what :func:`mapped_errors` converts; anything else passes through untouched
_MAPPED: tuple[type[BaseException], ...] = (
    rex.RequestException,
    u3.HTTPError,
    ssl.SSLError,
    OSError,
    http.client.HTTPException,
)


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable from it, outermost first.

    Follows urllib3's ``.reason``, exceptions in ``.args`` (requests wraps
    urllib3's errors that way), ``__cause__`` and ``__context__``;
    breadth-first, each exception once (cycles are fine), at most 32.
    """
    return walk(exc)


def classify(exc: BaseException, progress: Progress | None = None) -> Failure:
    """Classify one failed attempt.  Never raises; see the module docs for the rules."""
    try:
        return _classify(exc, progress)
    except Exception:  # a bug here must not replace the caller's real failure
        logger.debug("classification failed; reporting a generic failure", exc_info=True)
        is_tls = isinstance(exc, ssl.SSLError | u3.SSLError | rex.SSLError)
        return Failure(
            type="tls.other" if is_tls else "response.invalid",
            origin=None,
            message=type(exc).__name__,
            request_sent="full",
        )


def failure_fields(failure: Failure) -> dict[str, Any]:
    """The SPEC §6 event fields that describe ``failure`` (a minimal report)."""
    return {
        "error.type": failure.type,
        "error.origin": failure.origin,
        "error.message": failure.message,
        "phase": failure.phase,
        "request_sent": failure.request_sent,
        "openssl.library": failure.library,
        "openssl.reason": failure.reason,
        "http.response.status_code": failure.http_status,
        "error.retry_after": failure.retry_after,
    }


@contextlib.contextmanager
def mapped_errors(
    progress: Progress | None,
    report: Callable[[Failure], dict[str, Any]] | None = None,
) -> Iterator[None]:
    """Raise soapguard's exception for network/HTTP failures raised inside the block.

    ``requests``/urllib3 exceptions, ``ssl.SSLError``, ``OSError`` and
    ``http.client.HTTPException`` are classified against ``progress`` and
    re-raised as :func:`soapguard.errors.error_for` builds them (also an
    instance of the matching ``requests`` class), chained with ``from``.
    ``report(failure)`` supplies the exception's ``.report``; without it the
    report is :func:`failure_fields`.  soapguard's own exceptions and
    everything else (zeep's ``Fault``, ``KeyboardInterrupt``...) pass through.
    """
    try:
        yield
    except SoapGuardError:
        raise
    except _MAPPED as exc:
        failure = classify(exc, progress)
        fields = report(failure) if report is not None else failure_fields(failure)
        err = error_for(failure, exc, fields)
        err.failure = failure
        err.progress = progress  # whose evidence it is: the loop reuses it for this attempt only
        raise err from exc


def _observed(progress: Progress | None) -> Progress | None:
    """``progress`` if an instrumented connection wrote to it, else ``None``."""
    if progress is None:
        return None
    touched = (
        progress.conn is not None
        or progress.phase != "connect"
        or progress.bytes_sent > 0
        or progress.send_interrupted
        or progress.request_complete
        or progress.response_started
    )
    return progress if touched else None


def _classify(exc: BaseException, progress: Progress | None) -> Failure:
    links = walk(exc)
    if not links:
        return Failure("response.invalid", None, redact(type(exc).__name__), request_sent="full")
    observed = _observed(progress)
    deadline = first(links, lambda e: isinstance(e, DeadlineExceeded))
    facts = rules.Facts(links, observed)
    verdict = rules.timeout_deadline(deadline) if deadline is not None else rules.judge(facts)

    phase: Phase | None
    sent: RequestSent
    if observed is not None:
        phase, sent = observed.phase, observed.request_sent
    else:
        phase, sent = verdict.phase, ("none" if verdict.not_sent else "full")
    if verdict.type in _RESPONSE_TYPES and verdict.phase == "connect" and verdict.not_sent:
        # a proxy's answer to CONNECT: the tunnel was never opened, nothing reached the server
        phase, sent = "connect", "none"
    elif verdict.type in _RESPONSE_TYPES:
        sent = "full" if sent == "none" else sent
        phase = phase if phase in ("wait", "receive") else "receive"

    status = verdict.http_status
    if status is None and progress is not None:
        status = progress.status
    return Failure(
        type=verdict.type,
        origin=verdict.origin,
        message=redact(message_for(verdict.evidence, links)),
        phase=phase,
        request_sent=sent,
        library=verdict.library,
        reason=verdict.reason,
        http_status=status,
        retry_after=_retry_after(links, progress) if verdict.type == "http.status" else None,
    )


def _retry_after(links: list[BaseException], progress: Progress | None) -> float | None:
    """``Retry-After`` of the failed response, from progress or a requests ``.response``."""
    value = header(progress.response_headers, "Retry-After") if progress is not None else None
    for exc in links:
        if value is not None:
            break
        value = header(safe_getattr(safe_getattr(exc, "response"), "headers"), "Retry-After")
    return parse_retry_after(value)
