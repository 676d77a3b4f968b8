"""TLS record framing for the fault proxy: split a byte stream into whole records.

Nothing here decrypts.  A TLS record is a 5-byte header (content type, legacy
version, length) followed by ``length`` bytes of (usually encrypted) body.  The
proxy only needs the header, the plaintext ServerHello (to learn the negotiated
version) and a way to damage a record body so the peer's integrity check fails.
"""

from __future__ import annotations

from collections.abc import Iterator

CHANGE_CIPHER_SPEC = 20
ALERT = 21
HANDSHAKE = 22
APPLICATION_DATA = 23
RECORD_TYPES = frozenset({CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA})

HEADER_LEN = 5
#: RFC 8446 section 5.2: ciphertext may exceed 2**14 by at most 256; TLS 1.2 allows 2048
MAX_RECORD_BODY = 2**14 + 2048

_SERVER_HELLO = 2
_SUPPORTED_VERSIONS = 0x002B
_VERSION_NAMES = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}


class NotTLSError(ValueError):
    """The stream stopped looking like TLS records."""


def looks_like_tls(first_byte: int) -> bool:
    """Whether a connection whose first byte is ``first_byte`` should be parsed as TLS."""
    return first_byte in RECORD_TYPES


class RecordSplitter:
    """Accumulates bytes of one direction and yields whole records.

    Each record is returned as ``(content_type, record_bytes)`` where
    ``record_bytes`` includes the 5-byte header.  A partial record stays
    buffered until the rest arrives.  A header that is not a plausible TLS
    record raises :class:`NotTLSError`; the caller then passes the stream
    through untouched, starting with :meth:`drain`.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        self._buf += data
        view = self._buf
        pos = 0
        try:
            while len(view) - pos >= HEADER_LEN:
                ctype = view[pos]
                length = (view[pos + 3] << 8) | view[pos + 4]
                if ctype not in RECORD_TYPES or view[pos + 1] != 3 or length > MAX_RECORD_BODY:
                    raise NotTLSError(
                        f"invalid TLS record header: type {ctype}, version "
                        f"{view[pos + 1]}.{view[pos + 2]}, length {length}"
                    )
                end = pos + HEADER_LEN + length
                if end > len(view):
                    break
                record = bytes(view[pos:end])
                pos = end
                yield ctype, record
        finally:
            del self._buf[:pos]

    def drain(self) -> bytes:
        """Return and forget whatever is buffered (used when giving up on parsing)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data


def record_length(record: bytes) -> int:
    """The body length from a record's header."""
    return (record[3] << 8) | record[4]


def flip_offset(length: int) -> int:
    """Offset within a record body of the byte :func:`flip_body_byte` damages."""
    return length // 2


def flip_body_byte(record: bytes) -> bytes:
    """Return ``record`` with one byte in the middle of its body xor-ed with 0x01.

    The header is left intact, so the peer reads a well-formed record whose
    integrity check (AEAD tag or MAC) then fails.
    """
    length = record_length(record)
    if length == 0:
        return record
    damaged = bytearray(record)
    damaged[HEADER_LEN + flip_offset(length)] ^= 0x01
    return bytes(damaged)


def server_hello_version(record: bytes) -> str | None:
    """Negotiated protocol version from a plaintext record holding a ServerHello.

    Uses the ``supported_versions`` extension when present (TLS 1.3, also in a
    HelloRetryRequest), else the ServerHello's legacy version.  Returns
    ``None`` if the record does not start with a complete enough ServerHello.
    """
    body = memoryview(record)[HEADER_LEN:]
    if len(body) < 6 or body[0] != _SERVER_HELLO:
        return None
    legacy = (body[4] << 8) | body[5]
    msg_end = min(len(body), 4 + ((body[1] << 16) | (body[2] << 8) | body[3]))
    pos = 4 + 2 + 32  # header, legacy_version, random
    if pos >= msg_end:
        return _VERSION_NAMES.get(legacy)
    pos += 1 + body[pos] + 2 + 1  # session id, cipher suite, compression method
    if pos + 2 > msg_end:
        return _VERSION_NAMES.get(legacy)
    ext_end = min(msg_end, pos + 2 + ((body[pos] << 8) | body[pos + 1]))
    pos += 2
    while pos + 4 <= ext_end:
        ext_type = (body[pos] << 8) | body[pos + 1]
        ext_len = (body[pos + 2] << 8) | body[pos + 3]
        pos += 4
        if ext_type == _SUPPORTED_VERSIONS and ext_len == 2 and pos + 2 <= ext_end:
            return _VERSION_NAMES.get((body[pos] << 8) | body[pos + 1])
        pos += ext_len
    return _VERSION_NAMES.get(legacy)
