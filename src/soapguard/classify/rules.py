"""The rules of :mod:`soapguard.classify`: one exception chain in, one verdict out.

:func:`judge` tries the rules in a fixed order, most specific evidence first;
within a rule the outermost matching exception wins, except for TLS where the
deepest ``ssl.SSLError`` carries OpenSSL's reason.  Order matters where
exception classes overlap: ``RemoteDisconnected`` is both a
``ConnectionResetError`` and a ``BadStatusLine``; urllib3's
``NewConnectionError`` is a ``ConnectTimeoutError``; ``InvalidChunkLength``
is an ``IncompleteRead``; every ``requests`` exception is an ``OSError``.
"""

from __future__ import annotations

import dataclasses
import errno
import http.client
import re
import socket
import ssl
from collections.abc import Callable

import lxml.etree
import requests.exceptions as rex
import urllib3.exceptions as u3
import zeep.exceptions as zx
from urllib3.util.ssl_match_hostname import CertificateError as HostnameError

from ..tls.pins import PinMismatch
from ..transport.evidence import Phase
from ._httpx import httpx_labels, httpx_protocol
from ._util import last, safe_getattr, safe_str, timed_out
from .facts import Facts, Verdict
from .tls import (
    BRACKETED,
    is_peer_alert,
    is_tls_error,
    normalize,
    pyopenssl_reason,
    tls_verdict,
)

#: the alert a client sends when it declines the server's request to renegotiate:
#: (warning, no_renegotiation), as the record tracer keeps it
NO_RENEGOTIATION_ALERT = (1, 100)

_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ESHUTDOWN})
# the TCP connection could not be established (no byte of the request can have left)
_CONNECT_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN}
    | {errno.ENETDOWN, errno.EADDRNOTAVAIL}
)


def _errno(exc: BaseException) -> object:
    return safe_getattr(exc, "errno") if isinstance(exc, OSError) else None


def timeout_deadline(exc: BaseException) -> Verdict:
    return Verdict("timeout.deadline", exc)


def _fault(f: Facts) -> Verdict | None:
    exc = f.find(lambda e: isinstance(e, zx.Fault))
    return Verdict("soap.fault", exc, phase="receive") if exc is not None else None


def _http_status(f: Facts) -> Verdict | None:
    exc = f.find(lambda e: isinstance(e, zx.TransportError | rex.HTTPError))
    if exc is None:
        return None
    if isinstance(exc, rex.HTTPError):
        status = safe_getattr(safe_getattr(exc, "response"), "status_code")
    else:
        status = safe_getattr(exc, "status_code")
    if not isinstance(status, int) or status <= 0:
        return None if isinstance(exc, rex.HTTPError) else Verdict("response.invalid", exc)
    # zeep raises TransportError for an empty or non-XML 200 too: that is a bad response
    kind = "http.status" if status >= 300 else "response.invalid"
    return Verdict(kind, exc, phase="receive", http_status=status)


#: what http.client raises when an HTTPS proxy answers CONNECT with an error status
_TUNNEL = re.compile(r"Tunnel connection failed: (\d{3})")


def _tunnel(f: Facts) -> Verdict | None:
    """The proxy refused to open the tunnel: its status, and not one byte of the request left."""
    for exc in f.chain:
        if isinstance(exc, OSError) and not isinstance(exc, rex.RequestException):
            found = _TUNNEL.search(safe_str(exc)[:200])
            if found:
                status = int(found.group(1))
                return Verdict(
                    "http.status", exc, phase="connect", not_sent=True, http_status=status
                )
    return None


def _dns(f: Facts) -> Verdict | None:
    exc = f.find(lambda e: isinstance(e, u3.NameResolutionError)) or f.find(
        lambda e: isinstance(e, socket.gaierror | socket.herror)
    )
    return Verdict("connection.dns", exc, phase="connect", not_sent=True) if exc else None


def _renegotiation_refused(f: Facts) -> Verdict | None:
    """The server asked to renegotiate on this connection and we declined: what followed
    (its fatal alert, a close, a reset, a wait for a handshake that never came) is that.

    soapguard never renegotiates, so a server that needs it (e.g. to ask for a client
    certificate only for some paths, as IIS does) fails this way every time.
    """
    conn = f.attempt.conn if f.attempt is not None else None
    records = conn.records if conn is not None else None
    if records is None or records.alert_out != NO_RENEGOTIATION_ALERT:
        return None
    found = _tls(f)  # keeps OpenSSL's library and reason for what followed
    if found is not None:
        return dataclasses.replace(
            found, type="tls.renegotiation_refused", origin="local", phase=None, not_sent=False
        )
    return Verdict("tls.renegotiation_refused", f.chain[0], origin="local")


def _pool(f: Facts) -> Verdict | None:
    """No pooled connection became free in time: the request never started."""
    exc = f.find(lambda e: isinstance(e, u3.EmptyPoolError))
    return Verdict("timeout.pool", exc, phase="connect", not_sent=True) if exc else None


def _timeout(f: Facts) -> Verdict | None:
    exc = f.find(
        lambda e: isinstance(e, u3.ConnectTimeoutError) and not isinstance(e, u3.NewConnectionError)
    ) or f.find(lambda e: isinstance(e, rex.ConnectTimeout))
    if exc is not None:
        return Verdict("timeout.connect", exc, phase="connect", not_sent=True)
    # ssl raises TimeoutError("_ssl.c:989: The handshake operation timed out"); urllib3
    # reports it as a *read* timeout although no request byte can have left
    exc = f.find(lambda e: isinstance(e, TimeoutError) and "handshake operation" in safe_str(e))
    if exc is not None:
        return Verdict("timeout.connect", exc, phase="handshake", not_sent=True)
    in_connect = f.attempt is not None and f.attempt.phase in ("connect", "handshake")
    exc = f.find(lambda e: isinstance(e, u3.ReadTimeoutError | rex.ReadTimeout))
    if exc is None:
        exc = f.find(
            lambda e: (
                isinstance(e, TimeoutError | rex.Timeout)
                or (isinstance(e, u3.TimeoutError) and not isinstance(e, u3.NewConnectionError))
                or (isinstance(e, ssl.SSLError) and timed_out(e))
            )
        )
    if exc is None:
        return None
    # observed progress beats urllib3's label: a stalled handshake is not a read
    return Verdict("timeout.connect" if in_connect else "timeout.read", exc)


def _refused(f: Facts) -> Verdict | None:
    """The TCP connection could not be established: refused, unreachable, reset."""
    wrapper = f.find(lambda e: isinstance(e, u3.NewConnectionError))
    leaf = f.find(
        lambda e: (
            isinstance(e, ConnectionRefusedError)
            or (isinstance(e, OSError) and _errno(e) in _CONNECT_ERRNOS)
        )
    )
    if leaf is None and wrapper is None:
        return None
    if leaf is None and f.find(_is_reset) is not None:
        # an RST while connecting (e.g. a listener that resets on accept)
        return Verdict("connection.reset", wrapper or f.chain[0], phase="connect", not_sent=True)
    evidence = wrapper or leaf or f.chain[0]
    return Verdict("connection.refused", evidence, phase="connect", not_sent=True)


def _pin(f: Facts) -> Verdict | None:
    """The verified chain held no pinned key: refused by us, before any request byte."""
    exc = f.find(lambda e: isinstance(e, PinMismatch))
    if exc is None:
        return None
    return Verdict("tls.pin_mismatch", exc, "local", "handshake", not_sent=True)


def _tls(f: Facts) -> Verdict | None:
    found = [e for e in f.chain if is_tls_error(e)]
    if not found:
        return None
    structured = last(
        found, lambda e: isinstance(e, ssl.SSLError) and isinstance(safe_getattr(e, "reason"), str)
    )
    library: str | None = None
    reason: str | None = None
    key: str | None = None
    concrete = True
    if structured is not None:
        reason = key = safe_getattr(structured, "reason")
        lib = safe_getattr(structured, "library")
        library = lib if isinstance(lib, str) else None
    else:  # text fallback, innermost first
        texts = [safe_str(e) for e in reversed(found)]
        bracket = next((m for t in texts if (m := BRACKETED.search(t))), None)
        if bracket is not None:
            library, reason = bracket.group(1), bracket.group(2)
            key = reason
        else:
            key = next((r for e in reversed(found) if (r := pyopenssl_reason(e))), None)
            if key is None:
                if f.find(_is_reset) is not None:
                    return None  # only TLS *wrappers* around a plain reset: the reset rule's
                concrete = False
                key = " ".join(t for t in texts if "Max retries exceeded" not in t)
            key = normalize(key)
    attempt = f.attempt
    records = attempt.conn.records if attempt is not None and attempt.conn else None
    verdict = tls_verdict(
        key or None,
        eof=any(isinstance(e, ssl.SSLEOFError) for e in found),
        cert_error=any(isinstance(e, ssl.SSLCertVerificationError | HostnameError) for e in found),
        in_handshake=attempt is not None and attempt.phase == "handshake",
        records_in=records.records_in if records is not None else None,
    )
    origin = verdict.origin
    if verdict.type == "tls.other" and not concrete and not (key and is_peer_alert(key)):
        origin = None  # nothing but free text: no evidence of who failed
    evidence = structured or found[-1]
    phase: Phase | None = "handshake" if verdict.handshake_only else None
    return Verdict(verdict.type, evidence, origin, phase, verdict.handshake_only, library, reason)


def _is_reset(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return True
    if isinstance(exc, ssl.SSLZeroReturnError):
        return True  # the peer closed TLS cleanly (close_notify) without a response
    return isinstance(exc, OSError) and _errno(exc) in _RESET_ERRNOS


def _reset(f: Facts) -> Verdict | None:
    exc = f.find(_is_reset)
    if exc is not None:
        phase: Phase | None = "wait" if isinstance(exc, http.client.RemoteDisconnected) else None
        return Verdict("connection.reset", exc, phase=phase)
    exc = f.find(lambda e: isinstance(e, ssl.SSLSyscallError))
    if exc is not None:  # SSL_ERROR_SYSCALL without a reset errno: the peer just vanished
        return Verdict("tls.unexpected_eof", exc)
    # the body ended early; urllib3 suppresses ragged EOFs, so over TLS this is the
    # peer closing without close_notify
    exc = f.find(
        lambda e: (
            isinstance(e, http.client.IncompleteRead) and not isinstance(e, u3.InvalidChunkLength)
        )
    ) or f.find(lambda e: isinstance(e, u3.ProtocolError) and "ended prematurely" in safe_str(e))
    if exc is not None:
        kind = "tls.unexpected_eof" if f.over_tls() else "connection.reset"
        return Verdict(kind, exc, phase="receive")
    return None


_INVALID: tuple[type[BaseException], ...] = (
    zx.XMLSyntaxError,
    zx.XMLParseError,
    lxml.etree.XMLSyntaxError,
    u3.InvalidChunkLength,
    http.client.BadStatusLine,
    http.client.LineTooLong,
    u3.DecodeError,
    u3.HeaderParsingError,
    rex.ContentDecodingError,
    rex.InvalidHeader,
    rex.ChunkedEncodingError,
    http.client.HTTPException,
    zx.Error,
)


def _invalid(f: Facts) -> Verdict | None:
    for cls in _INVALID:  # most specific class first: its message is the useful one
        exc = next((e for e in f.chain if isinstance(e, cls)), None)
        if exc is not None:
            return Verdict("response.invalid", exc, phase="receive")
    return None


def _fallback(f: Facts) -> Verdict:
    top = f.chain[0]
    network = f.find(
        lambda e: (
            isinstance(e, rex.ConnectionError | u3.ProtocolError)
            or (isinstance(e, OSError) and not isinstance(e, rex.RequestException))
        )
    )
    if network is not None:
        return Verdict("connection.reset", network)
    return Verdict("response.invalid", top)


_RULES: tuple[Callable[[Facts], Verdict | None], ...] = (
    _fault,
    _http_status,
    _tunnel,
    httpx_labels,
    _dns,
    _pool,
    _renegotiation_refused,
    _timeout,
    _refused,
    _pin,
    _tls,
    _reset,
    httpx_protocol,
    _invalid,
)


def judge(f: Facts) -> Verdict:
    """The verdict of the first rule that recognises the chain."""
    for rule in _RULES:
        verdict = rule(f)
        if verdict is not None:
            return verdict
    return _fallback(f)
