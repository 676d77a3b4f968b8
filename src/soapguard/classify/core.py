"""The failure classifier: the one place that maps low-level exceptions to the taxonomy.

:func:`classify` turns whatever an attempt raised -- a ``requests`` exception
wrapping urllib3's ``MaxRetryError`` wrapping an ``ssl.SSLError``, a bare
``ConnectionResetError``, a zeep ``Fault`` -- into a
:class:`~soapguard.classify.Failure`: ``error.type``, ``error.origin``, phase,
how much of the request left, the OpenSSL library/reason and a short,
redacted message.  :func:`mapped_errors` applies it httpx-style around a block
and raises soapguard's exception instead.

Evidence, strongest first:

1. ``soapguard.errors.DeadlineExceeded``, and a socket operation cut short at the
   call's deadline (``soapguard.transport.deadline.ConnectionDeadline``), are always
   ``timeout.deadline``.  A ``.report`` found on an exception in the chain is never
   evidence: it may describe an earlier attempt, and one attempt is judged only by
   what it saw;
2. the attempt's :class:`~soapguard.transport.evidence.Attempt` (phase, bytes written,
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
* Whatever ends an attempt on a connection where we declined the server's request to
  renegotiate (the record tracer saw us send a ``no_renegotiation`` alert) is
  ``tls.renegotiation_refused``: soapguard never renegotiates, so it is deterministic.
* A timeout while the observed phase is ``connect``/``handshake`` is
  ``timeout.connect``, whatever urllib3 called it (it reports a stalled
  handshake as a *read* timeout).
* A body cut short (``IncompleteRead``) is ``tls.unexpected_eof`` over TLS --
  urllib3 suppresses ragged EOFs, so that is how a peer closing without
  ``close_notify`` shows -- and ``connection.reset`` over plain HTTP.
* ``retry_after`` is only read for ``http.status`` failures.
* urllib3's ``EmptyPoolError`` (every connection the pool may keep stayed busy
  for the whole wait) is ``timeout.pool``: nothing was sent.

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
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import requests.exceptions as rex
import urllib3.exceptions as u3
import zeep.exceptions as zx

from .. import _compat
from ..errors import DeadlineExceeded, SoapGuardError
from ..transport.deadline import ConnectionDeadline
from ..transport.evidence import Attempt, Phase, RequestSent
from .failure import Failure

__all__ = [
    "EXCHANGE_ERRORS",
    "ErrorFactory",
    "Failure",
    "classify",
    "failure_fields",
    "mapped_errors",
]

logger = logging.getLogger(__name__)

_RESPONSE_TYPES = frozenset({"http.status", "soap.fault", "response.invalid"})

#: raised by network and HTTP code while a request is exchanged: what the transport maps
_NETWORK: tuple[type[BaseException], ...] = (
    rex.RequestException,
    u3.HTTPError,
    ssl.SSLError,
    OSError,
    http.client.HTTPException,
)

#: the failures of an exchange, as they reach the attempt loop: mapped network errors, and
#: what zeep raises about the response.  Anything else (a TypeError for a bad argument, a
#: plugin's FileNotFoundError...) is the caller's and passes through untouched, unretried.
EXCHANGE_ERRORS: tuple[type[BaseException], ...] = (
    SoapGuardError,
    rex.RequestException,
    u3.HTTPError,
    http.client.HTTPException,
    ssl.SSLError,
    # network OSErrors only
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    zx.Fault,
    zx.TransportError,
    zx.XMLSyntaxError,
    # zeep refusing a response on its XML safety settings: the response is invalid
    *_compat.zeep_refusals(),
)

#: builds the exception a failure is raised as (the family differs for the async client)
ErrorFactory = Callable[[Failure, BaseException], SoapGuardError]


def classify(exc: BaseException, attempt: Attempt | None = None) -> Failure:
    """Classify one failed attempt from its own evidence.  Never raises (see the module docs)."""
    try:
        return _classify(exc, attempt)
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
    """The event fields that describe ``failure``."""
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
    attempt: Attempt,
    error_for: ErrorFactory,
    also: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Map network/HTTP failures raised inside the block to soapguard's exceptions, once.

    ``requests``/urllib3 exceptions, ``ssl.SSLError``, ``OSError``,
    ``http.client.HTTPException`` and the classes in ``also`` (the async transport
    passes httpx's) are classified against ``attempt`` and re-raised as
    ``error_for`` builds them (also an instance of the class bare zeep would have
    raised), chained with ``from``.  The attempt keeps the failure and the exception
    raised for it, so the attempt loop does not classify it again.  soapguard's own
    exceptions and everything else (zeep's ``Fault``, ``KeyboardInterrupt``...) pass
    through.
    """
    try:
        yield
    except SoapGuardError:
        raise
    except (*_NETWORK, *also) as exc:
        failure = classify(exc, attempt)
        err = error_for(failure, exc)
        attempt.failure, attempt.raised = failure, err
        raise err from exc


def _classify(exc: BaseException, attempt: Attempt | None) -> Failure:
    # The rules and their helpers load with the first failure: a process whose calls
    # succeed never pays for importing them.
    from . import rules
    from ._util import first, message_for, redact, walk
    from .facts import Facts

    links = walk(exc)
    if not links:
        return Failure("response.invalid", None, redact(type(exc).__name__), request_sent="full")
    observed = attempt if attempt is not None and attempt.observed else None
    deadline = first(links, lambda e: isinstance(e, DeadlineExceeded | ConnectionDeadline))
    facts = Facts(links, observed)
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
    if status is None and attempt is not None:
        status = attempt.status
    return Failure(
        type=verdict.type,
        origin=verdict.origin,
        message=redact(message_for(verdict.evidence, links)),
        phase=phase,
        request_sent=sent,
        library=verdict.library,
        reason=verdict.reason,
        http_status=status,
        retry_after=_retry_after(links, attempt) if verdict.type == "http.status" else None,
    )


def _retry_after(links: list[BaseException], attempt: Attempt | None) -> float | None:
    """``Retry-After`` of the failed response, from the attempt or a requests ``.response``."""
    from ._util import header, parse_retry_after, safe_getattr

    value = header(attempt.response_headers, "Retry-After") if attempt is not None else None
    for exc in links:
        if value is not None:
            break
        value = header(safe_getattr(safe_getattr(exc, "response"), "headers"), "Retry-After")
    return parse_retry_after(value)
