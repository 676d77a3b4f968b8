"""TLS rules for :mod:`soapguard.classify`: OpenSSL reasons to the taxonomy's ``tls.*`` types.

The input is an OpenSSL reason code as ``ssl.SSLError.reason`` carries it
(``DECRYPTION_FAILED_OR_BAD_RECORD_MAC``) or, when no structured reason
exists, a *reason-like* string made from error text by :func:`normalize`
(``"sslv3 alert bad record mac"`` -> ``SSLV3_ALERT_BAD_RECORD_MAC``).  OpenSSL's
reason strings are its reason-code names in lower case with spaces, so the
same substring rules serve both.

Origin: reasons naming a received alert (``*_ALERT_*`` and the four TLS 1.2
extension alerts whose names lack the word) are the *peer's*; every other
concrete OpenSSL error was detected *locally* (and we sent the alert).  An
unexpected EOF involves no alert at all, so its origin is ``None``.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from typing import Literal

import requests.exceptions as rex
import urllib3.exceptions as u3
from urllib3.util.ssl_match_hostname import CertificateError as HostnameError

from ._util import safe_getattr, safe_str, timed_out

Origin = Literal["local", "peer"]

#: alert reasons (OpenSSL codes 1000 + alert number) whose names lack "ALERT"
_ALERTS_WITHOUT_THE_WORD = (
    "TLSV1_UNRECOGNIZED_NAME",
    "TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE",
    "TLSV1_CERTIFICATE_UNOBTAINABLE",
    "TLSV1_BAD_CERTIFICATE_HASH_VALUE",
)

_EOF = ("UNEXPECTED_EOF", "EOF_OCCURRED_IN_VIOLATION_OF_PROTOCOL")

# integrity failures; OpenSSL also reports CBC padding errors as a bad MAC
_BAD_RECORD_MAC = ("BAD_RECORD_MAC", "DECRYPTION_FAILED", "BLOCK_CIPHER_PAD_IS_WRONG")

# "CERTIFICATE" covers CERTIFICATE_VERIFY_FAILED and the *_ALERT_*CERTIFICATE* alerts
_CERTIFICATE = (
    "CERTIFICATE",
    "UNKNOWN_CA",
    "ACCESS_DENIED",
    "CA_MD_TOO_WEAK",
    "CA_KEY_TOO_SMALL",
    "EE_KEY_TOO_SMALL",
    "HOSTNAME_MISMATCH",
)

_PROTOCOL_VERSION = (
    "UNSUPPORTED_PROTOCOL",
    "PROTOCOL_VERSION",
    "NO_PROTOCOLS_AVAILABLE",
    "WRONG_VERSION_NUMBER",
    "VERSION_TOO_LOW",
    "VERSION_TOO_HIGH",
    "INAPPROPRIATE_FALLBACK",
    "UNSUPPORTED_SSL_VERSION",
    "UNKNOWN_PROTOCOL",
)

# nothing both sides accept: suites, groups or signature algorithms
_NO_SHARED_CIPHER = (
    "NO_SHARED_CIPHER",
    "NO_CIPHERS_AVAILABLE",
    "NO_CIPHER_MATCH",
    "NO_SHARED_GROUPS",
    "NO_SHARED_SIGNATURE_ALGORITHMS",
    "NO_SUITABLE_SIGNATURE_ALGORITHM",
    "INSUFFICIENT_SECURITY",
)

_HANDSHAKE_FAILURE_ALERT = "ALERT_HANDSHAKE_FAILURE"

# refusals of an old peer that a configuration switch decides, not the peer's health: a
# peer without RFC 5746 secure renegotiation, and a DHE group below the security level
_LEGACY_RENEGOTIATION = ("UNSAFE_LEGACY_RENEGOTIATION_DISABLED",)
_DH_KEY_TOO_SMALL = ("DH_KEY_TOO_SMALL",)

# a record longer than the negotiated maximum: the peer's (we reject it: DATA_LENGTH_TOO_LONG)
# or ours (the peer's record_overflow alert)
_RECORD_OVERFLOW = ("DATA_LENGTH_TOO_LONG", "RECORD_OVERFLOW", "ENCRYPTED_LENGTH_TOO_LONG")

# pyOpenSSL's OpenSSL.SSL.Error args: [('SSL routines', 'function', 'reason text'), ...]
_PYOPENSSL_TUPLE = re.compile(r"\(\s*'([^']*SSL[^']*)',\s*'[^']*',\s*'([^']+)'\s*\)")
#: how much of a message the text fallbacks look at
_TEXT_LIMIT = 4096
_NON_ALNUM = re.compile(r"[^A-Z0-9]+")
#: the "[SSL: REASON]" prefix CPython puts in ssl.SSLError messages
BRACKETED = re.compile(r"\[([A-Za-z0-9_ ]+): ([A-Z0-9_]+)\]")


@dataclass(frozen=True)
class TLSVerdict:
    type: str
    origin: Origin | None
    #: the failure can only happen during the handshake, before any request byte
    handshake_only: bool


def normalize(text: str) -> str:
    """Upper-case ``text`` and join its words with ``_``, as OpenSSL names reasons."""
    return _NON_ALNUM.sub("_", text[:_TEXT_LIMIT].upper()).strip("_")


def is_peer_alert(reason: str) -> bool:
    """Whether ``reason`` (code name or normalized text) reports an alert the peer sent."""
    return "ALERT_" in reason or any(name in reason for name in _ALERTS_WITHOUT_THE_WORD)


def _from_pyopenssl(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("OpenSSL")


def pyopenssl_reason(exc: BaseException) -> str | None:
    """The reason text of a pyOpenSSL-style error (in ``args`` or in the message)."""
    args = safe_getattr(exc, "args")
    if isinstance(args, tuple) and args and isinstance(args[0], list):
        for item in args[0]:
            if (
                isinstance(item, tuple)
                and len(item) == 3
                and all(isinstance(part, str) for part in item)
                and (_from_pyopenssl(exc) or "SSL" in item[0])
            ):
                return str(item[2])
    match = _PYOPENSSL_TUPLE.search(safe_str(exc)[:_TEXT_LIMIT])
    return match.group(2) if match else None


def is_tls_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a TLS failure (not a TLS-level close, reset or timeout)."""
    if isinstance(exc, ssl.SSLZeroReturnError | ssl.SSLSyscallError):
        return False  # a closed or reset connection: the reset rule's
    if isinstance(exc, ssl.SSLError | u3.SSLError | rex.SSLError | HostnameError):
        return not timed_out(exc)
    return _from_pyopenssl(exc) or pyopenssl_reason(exc) is not None


def _has(reason: str, names: tuple[str, ...]) -> bool:
    return any(name in reason for name in names)


def tls_verdict(
    reason: str | None,
    *,
    eof: bool = False,
    cert_error: bool = False,
    in_handshake: bool = False,
    records_in: int | None = None,
) -> TLSVerdict:
    """Classify one TLS failure.

    ``reason`` is the OpenSSL reason or normalized error text (``None`` when
    there is neither); ``eof`` / ``cert_error`` say the exception *type* was
    ``ssl.SSLEOFError`` / a certificate-verification error; ``in_handshake``
    that the connection was observed to be in its handshake; ``records_in``
    how many TLS records the peer had sent (``None``: not traced).

    A peer's ``handshake_failure`` alert normally means "deterministic
    handshake failure".  When record tracing shows the alert was the *only*
    record the server sent (``records_in <= 1``: no ServerHello), the server
    refused our ClientHello outright -- in practice because nothing we offered
    (suites, groups, signature algorithms) was acceptable -- so it is reported
    as ``tls.no_shared_cipher``.

    OpenSSL's refusal of a peer without secure renegotiation
    (``UNSAFE_LEGACY_RENEGOTIATION_DISABLED``) is ``tls.legacy_renegotiation``, and of a
    DHE group smaller than the security level allows (``DH_KEY_TOO_SMALL``)
    ``tls.dh_key_too_small``: both are decided by configuration, not by chance.
    """
    r = reason or ""
    peer = is_peer_alert(r)
    origin: Origin | None = "peer" if peer else ("local" if reason else None)
    if eof or _has(r, _EOF):
        return TLSVerdict("tls.unexpected_eof", None, False)
    if _has(r, _BAD_RECORD_MAC):
        return TLSVerdict("tls.bad_record_mac", origin, False)
    if _has(r, _RECORD_OVERFLOW):
        return TLSVerdict("tls.record_overflow", origin, False)
    if _has(r, _LEGACY_RENEGOTIATION):
        return TLSVerdict("tls.legacy_renegotiation", "local", True)
    if _has(r, _DH_KEY_TOO_SMALL):
        return TLSVerdict("tls.dh_key_too_small", "local", True)
    if cert_error or _has(r, _CERTIFICATE):
        # a peer's certificate alert can arrive after our Finished in TLS 1.3
        # (client certificate rejected), i.e. after the request was written
        return TLSVerdict("tls.certificate", "peer" if peer else "local", not peer)
    if _has(r, _PROTOCOL_VERSION):
        return TLSVerdict("tls.protocol_version", origin, True)
    if _has(r, _NO_SHARED_CIPHER):
        return TLSVerdict("tls.no_shared_cipher", origin, True)
    if _HANDSHAKE_FAILURE_ALERT in r:
        if records_in is not None and records_in <= 1:
            return TLSVerdict("tls.no_shared_cipher", "peer", True)
        return TLSVerdict("tls.handshake_failure", "peer", True)
    if in_handshake:
        return TLSVerdict("tls.handshake_failure", origin, False)
    return TLSVerdict("tls.other", origin, False)
