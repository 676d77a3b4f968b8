"""TLS settings: safe cipher profiles and one verified ``ssl.SSLContext`` per config."""

from __future__ import annotations

import ssl

#: appended to every cipher string so these can never be enabled
FORBIDDEN_CIPHERS = "!aNULL:!eNULL:!NULL:!RC4:!3DES:!DES:!EXPORT:!MD5"


def validate_cipher_string(s: str) -> bool:
    """Whether the OpenSSL cipher string ``s`` selects at least one allowed cipher."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.set_ciphers(f"{s}:{FORBIDDEN_CIPHERS}")
    except ssl.SSLError:
        return False
    return True
