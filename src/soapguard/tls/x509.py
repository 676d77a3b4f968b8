"""The few facts soapguard reads from an X.509 certificate: SPKI pin, subject, expiry.

Pins and expiry warnings must work without an extra dependency, and Python's
``ssl`` decodes only the peer's leaf certificate (``getpeercert()``), not the
other certificates of a verified chain nor the configured client certificate.
So this module reads DER itself -- but only a strict walk to three fields of
``tbsCertificate`` (RFC 5280 section 4.1): ``validity``, ``subject`` and
``subjectPublicKeyInfo``.  It never decides whether a certificate is valid
(OpenSSL did that before any of this runs); it only reports what is written in one.

The parser is total on bad input: anything that is not well-formed DER of the
expected shape raises :class:`ValueError`, never another exception, and no length
is trusted beyond the buffer.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
from dataclasses import dataclass

from ..config._vars import PIN_PREFIX

__all__ = ["CertInfo", "first_pem_certificate", "parse", "spki_pin", "tlv"]

#: longest subject kept (a hostile certificate may carry kilobytes of names)
SUBJECT_LIMIT = 256

_SEQUENCE, _SET, _INTEGER, _OID = 0x30, 0x31, 0x02, 0x06
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_VERSION_TAG = 0xA0  # [0] EXPLICIT Version
_TEXT_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be"}
_UNIVERSAL_STRING = 0x1C
#: short names of the attribute types people expect to see in a subject
_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
}
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class CertInfo:
    """What soapguard needs to know about one certificate."""

    #: SHA-256 of the whole DER certificate, hex (its fingerprint)
    sha256: str
    #: ``sha256/<base64>`` of its SubjectPublicKeyInfo, the form SOAPGUARD_PINNED_KEYS takes
    pin: str
    #: ``CN=..., O=...`` in certificate order; None when the subject is empty
    subject: str | None
    #: end of validity, UTC
    not_after: datetime.datetime

    def seconds_left(self, now: float) -> float:
        """Seconds from ``now`` (a Unix time) until it expires; negative once expired."""
        return self.not_after.timestamp() - now

    def days_left(self, now: float) -> int:
        """Whole days left before it expires (floored: 9.9 days left is 9)."""
        return int(self.seconds_left(now) // 86400)

    @property
    def not_after_text(self) -> str:
        """``2026-03-01T12:00:00Z``."""
        return self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")


def tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """``(tag, value_start, value_end)`` of the DER element at ``pos`` (inside ``[pos, end)``)."""
    if pos + 2 > end:
        raise ValueError("truncated DER element")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte DER tags do not occur here")
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        length = first
    if pos + length > end:
        raise ValueError("DER element runs past its container")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """``(tag, element_start, value_start, value_end)`` of each element in ``[start, end)``."""
    out = []
    pos = start
    while pos < end:
        tag, value, stop = tlv(data, pos, end)
        out.append((tag, pos, value, stop))
        pos = stop
    return out


def parse(der: bytes) -> CertInfo:
    """The facts of one DER certificate; ``ValueError`` if it is not one."""
    data = bytes(der)
    tag, cert_start, cert_end = tlv(data, 0, len(data))
    if tag != _SEQUENCE or cert_end != len(data):
        raise ValueError("not a DER certificate")
    tag, tbs_start, tbs_end = tlv(data, cert_start, cert_end)
    if tag != _SEQUENCE:
        raise ValueError("no tbsCertificate")
    fields = _children(data, tbs_start, tbs_end)
    if fields and fields[0][0] == _VERSION_TAG:
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
    if len(fields) < 6 or fields[0][0] != _INTEGER:
        raise ValueError("not a tbsCertificate")
    validity, subject, spki = fields[3], fields[4], fields[5]
    if not (validity[0] == subject[0] == spki[0] == _SEQUENCE):
        raise ValueError("not a tbsCertificate")
    times = _children(data, validity[2], validity[3])
    if len(times) != 2:
        raise ValueError("validity holds two times")
    digest = hashlib.sha256(data[spki[1] : spki[3]]).digest()
    return CertInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        pin=PIN_PREFIX + base64.b64encode(digest).decode("ascii"),
        subject=_name(data, subject[2], subject[3]),
        not_after=_time(data, times[1]),
    )


def spki_pin(der: bytes) -> str:
    """``sha256/<base64>`` of the certificate's SubjectPublicKeyInfo; ``ValueError`` if not one."""
    return parse(der).pin


def first_pem_certificate(pem: bytes) -> bytes | None:
    """The DER of the first ``CERTIFICATE`` block of a PEM file, if it has one."""
    found = _PEM_CERT.search(pem)
    if found is None:
        return None
    try:
        return base64.b64decode(b"".join(found.group(1).split()), validate=True)
    except ValueError:
        return None


def _time(data: bytes, element: tuple[int, int, int, int]) -> datetime.datetime:
    tag, _, start, end = element
    text = data[start:end].decode("ascii", "strict") if end - start <= 32 else ""
    if tag == _UTC_TIME and re.fullmatch(r"\d{12}Z", text):
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text  # RFC 5280: YY >= 50 is 19YY
    elif not (tag == _GENERALIZED_TIME and re.fullmatch(r"\d{14}Z", text)):
        raise ValueError("bad certificate time")
    try:
        stamp = datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ")
    except ValueError:
        raise ValueError("bad certificate time") from None
    return stamp.replace(tzinfo=datetime.timezone.utc)


def _name(data: bytes, start: int, end: int) -> str | None:
    parts = []
    for tag, _, rdn_start, rdn_end in _children(data, start, end):
        if tag != _SET:
            raise ValueError("bad RDN")
        for atv_tag, _, atv_start, atv_end in _children(data, rdn_start, rdn_end):
            items = _children(data, atv_start, atv_end) if atv_tag == _SEQUENCE else []
            if len(items) != 2 or items[0][0] != _OID:
                raise ValueError("bad attribute in a name")
            oid = _oid(data[items[0][2] : items[0][3]])
            parts.append(f"{_NAMES.get(oid, oid)}={_text(data, items[1])}")
    text = ", ".join(parts)
    return text[:SUBJECT_LIMIT] if text else None


def _text(data: bytes, element: tuple[int, int, int, int]) -> str:
    tag, _, start, end = element
    raw = data[start:end]
    if tag == _UNIVERSAL_STRING:
        return raw.decode("utf-32-be", "replace")
    encoding = _TEXT_TAGS.get(tag)
    if encoding is None:
        return "#" + raw.hex()  # RFC 4514's form for a value of another type
    return raw.decode(encoding, "replace")


def _oid(raw: bytes) -> str:
    if not raw or raw[-1] & 0x80:
        raise ValueError("bad OID")
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(n) for n in (first, arcs[0] - 40 * first, *arcs[1:]))
