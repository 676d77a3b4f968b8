"""Classification rules for httpx and httpcore failures (the async transport).

Recognised by the module that defines the class, so that these rules never import httpx:
the synchronous client does not depend on it, and no httpx exception can exist unless
httpx was imported.
"""

from __future__ import annotations

from ..transport.evidence import Phase
from ._util import safe_str
from .facts import Facts, Verdict

__all__ = ["httpx_labels", "httpx_protocol"]

_HTTPX_MODULES = ("httpx", "httpcore")


def _httpx_name(exc: BaseException) -> str | None:
    """``"ReadTimeout"`` for httpx's or httpcore's ``ReadTimeout``...; None for other classes."""
    cls = type(exc)
    module = cls.__module__ or ""
    if module.partition(".")[0] in _HTTPX_MODULES:
        return cls.__name__
    return None


def _httpx_find(f: Facts, *names: str) -> BaseException | None:
    return f.find(lambda e: _httpx_name(e) in names)


def httpx_labels(f: Facts) -> Verdict | None:
    """What only httpx's own labels say: waiting for a pooled connection, connecting."""
    exc = _httpx_find(f, "PoolTimeout")
    if exc is not None:
        return Verdict("timeout.pool", exc, phase="connect", not_sent=True)
    exc = _httpx_find(f, "ConnectTimeout")
    if exc is not None:
        in_handshake = f.attempt is not None and f.attempt.phase == "handshake"
        phase: Phase = "handshake" if in_handshake else "connect"
        return Verdict("timeout.connect", exc, phase=phase, not_sent=True)
    exc = _httpx_find(f, "ReadTimeout", "WriteTimeout")
    if exc is not None:  # observed progress beats the label, as for urllib3's
        in_connect = f.attempt is not None and f.attempt.phase in ("connect", "handshake")
        return Verdict("timeout.connect" if in_connect else "timeout.read", exc)
    return None


#: h11's words for a peer that closed the connection before the response was complete
_NO_RESPONSE = "without sending a response"
_INCOMPLETE_BODY = "without sending complete message body"


def httpx_protocol(f: Facts) -> Verdict | None:
    """httpx failures that no lower-level exception in the chain explains."""
    exc = _httpx_find(f, "RemoteProtocolError")
    if exc is not None:
        text = safe_str(exc)
        if _NO_RESPONSE in text:  # closed (EOF) where a response was due
            return Verdict("connection.reset", exc, phase="wait")
        if _INCOMPLETE_BODY in text:  # over TLS: closed without close_notify
            kind = "tls.unexpected_eof" if f.over_tls() else "connection.reset"
            return Verdict(kind, exc, phase="receive")
        return Verdict("response.invalid", exc, phase="receive")
    exc = _httpx_find(f, "ConnectError")
    if exc is not None and (f.attempt is None or f.attempt.phase == "connect"):
        return Verdict("connection.refused", exc, phase="connect", not_sent=True)
    exc = _httpx_find(f, "ReadError", "WriteError", "ConnectError", "CloseError", "ProxyError")
    if exc is not None:
        return Verdict("connection.reset", exc)
    exc = _httpx_find(f, "DecodingError", "LocalProtocolError", "UnsupportedProtocol", "InvalidURL")
    if exc is not None:
        return Verdict("response.invalid", exc)
    return None
