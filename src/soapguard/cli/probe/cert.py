"""Certificates for ``soapguard probe``: the peer's chain and the host name check."""

from __future__ import annotations

import _ssl
import hashlib
import ipaddress
import ssl
import time
from typing import Any

from ...tls.x509 import spki_pin

#: X509_V_ERR_HOSTNAME_MISMATCH / X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH = (62, 64)


def chain_of(sock: ssl.SSLSocket, *, verified: bool) -> list[dict[str, Any]]:
    """The peer's chain, leaf first: subject, issuer, notAfter, days left, SHA-256, SPKI pin,
    names.

    Uses the interpreter's private ``get_verified_chain``/``get_unverified_chain``
    (CPython 3.10+) when present, else only the leaf from ``getpeercert()``.
    """
    sslobj = getattr(sock, "_sslobj", None)
    getter = getattr(sslobj, "get_verified_chain" if verified else "get_unverified_chain", None)
    encoding = getattr(_ssl, "ENCODING_DER", None)
    chain: list[dict[str, Any]] = []
    if callable(getter) and encoding is not None:
        try:
            for cert in getter() or ():
                chain.append(_describe(cert.get_info(), cert.public_bytes(encoding)))
        except (AttributeError, TypeError, ValueError, ssl.SSLError):
            chain = []
    if not chain:
        der = sock.getpeercert(binary_form=True)
        if der:
            chain.append(_describe(sock.getpeercert() or {}, der))
    return chain


def _describe(info: dict[str, Any], der: bytes) -> dict[str, Any]:
    not_after = info.get("notAfter")
    days_left: int | None = None
    if isinstance(not_after, str):
        try:
            days_left = int((ssl.cert_time_to_seconds(not_after) - time.time()) // 86400)
        except ValueError:
            days_left = None
    return {
        "subject": _dn(info.get("subject")),
        "issuer": _dn(info.get("issuer")),
        "not_after": not_after,
        "days_left": days_left,
        "sha256": hashlib.sha256(der).hexdigest(),
        "spki_pin": _pin(der),
        "names": [
            value for kind, value in info.get("subjectAltName", ()) if kind in ("DNS", "IP Address")
        ],
    }


def _pin(der: bytes) -> str | None:
    """The certificate's ``sha256/<base64>`` SPKI pin (None if it cannot be read)."""
    try:
        return spki_pin(der)
    except ValueError:
        return None


def _dn(rdns: Any) -> str | None:
    if not rdns:
        return None
    short = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
        "localityName": "L",
        "stateOrProvinceName": "ST",
    }
    parts = [f"{short.get(key, key)}={value}" for rdn in rdns for key, value in rdn]
    return ", ".join(parts)


def name_matches(host: str, names: list[str]) -> bool:
    """Whether ``host`` matches one of the certificate's DNS/IP names (RFC 6125 subset:
    one leading ``*`` label, no partial wildcards)."""
    try:
        wanted_ip = ipaddress.ip_address(host)
    except ValueError:
        wanted_ip = None
    host = host.lower().rstrip(".")
    for name in names:
        if wanted_ip is not None:
            try:
                if ipaddress.ip_address(name) == wanted_ip:
                    return True
            except ValueError:
                continue
            continue
        pattern = name.lower().rstrip(".")
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host:
            first, rest = host.split(".", 1)
            if first and rest == pattern[2:] and "*" not in rest:
                return True
    return False


def hostname_check(host: str, verify_code: int | None, chain: list[dict[str, Any]]) -> bool | None:
    """Whether the leaf is for ``host``: False if verification said so, else by its names.

    ``verify_code`` is that of the rejected verified handshake (None if it passed,
    in which case OpenSSL has checked the name already).
    """
    if verify_code in _NAME_MISMATCH:
        return False
    if chain:
        return name_matches(host, chain[0]["names"])
    return None
