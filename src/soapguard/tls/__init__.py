"""TLS: safe profiles, one verified and cached ``ssl.SSLContext`` per configuration.

* :mod:`.context` -- profiles, cipher strings, the context cache, connection facts;
* :mod:`._openssl` -- a validated ctypes bridge for what Python's ``ssl`` cannot set;
* :mod:`.trace` -- TLS record sizes and alerts per connection;
* :mod:`.material`, :mod:`.pkcs12` -- CA and client certificates (PEM or PKCS#12);
* :mod:`.pins` -- the pinned-key check on every new connection; :mod:`.x509` the few
  certificate fields pins and expiry warnings read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from .context import (
        CapsState,
        caps_state,
        cipher_string,
        clear_cache,
        context_for,
        describe_connection,
        tls13_ciphersuites,
        version_bounds,
    )
    from .profiles import FORBIDDEN_CIPHERS, MFL_SIZES, TLS13_ALLOWED

__all__ = [
    "FORBIDDEN_CIPHERS",
    "MFL_SIZES",
    "TLS13_ALLOWED",
    "CapsState",
    "caps_state",
    "cipher_string",
    "clear_cache",
    "context_for",
    "describe_connection",
    "tls13_ciphersuites",
    "version_bounds",
]
__getattr__, __dir__ = attach(
    __name__,
    {
        **dict.fromkeys(__all__, ".context"),
        **dict.fromkeys(("FORBIDDEN_CIPHERS", "MFL_SIZES", "TLS13_ALLOWED"), ".profiles"),
    },
)
