"""TLS facts that do not depend on a configuration: profiles, suites, versions, limits.

Pure tables and functions of strings, so that configuration can validate its values
through them without importing the context machinery (which itself needs a
configuration).  What is never offered, whatever the configuration says, is here:
:data:`FORBIDDEN_CIPHERS` is appended to every cipher string, and a built context is
checked against :data:`BAD_DESCRIPTION`.
"""

from __future__ import annotations

import functools
import re
import ssl
from typing import Literal

#: appended to every cipher string so these can never be enabled
FORBIDDEN_CIPHERS = "!aNULL:!eNULL:!NULL:!RC4:!3DES:!DES:!EXPORT:!MD5:!PSK:!SRP"

_INTERMEDIATE = "ECDHE+AESGCM:ECDHE+CHACHA20"
# what old peers have: ECDHE with AES-CBC, DHE-RSA (forward secrecy without elliptic
# curves), static RSA; AES-GCM before AES-CBC in each group, never AES-CCM
_ECDHE_CBC = "ECDHE+AES"
_DHE_RSA = "DHE+aRSA+AESGCM:DHE+aRSA+AES"
_STATIC_RSA = "kRSA+AESGCM:kRSA+AES:!AESCCM"
PROFILE_CIPHERS = {
    "modern": _INTERMEDIATE,  # unused by TLS 1.3, but keeps TLS <= 1.2 strict if ever enabled
    "intermediate": _INTERMEDIATE,
    "legacy": ":".join((_INTERMEDIATE, _ECDHE_CBC, _DHE_RSA, _STATIC_RSA)),
}
#: the legacy profile's suites without DHE: for a peer whose DH group is too small for the
#: security level but that also has an ECDHE or static-RSA suite, this keeps level 2
LEGACY_WITHOUT_DHE = ":".join((_INTERMEDIATE, _ECDHE_CBC, _STATIC_RSA))
#: OpenSSL's SSL_OP_LEGACY_SERVER_CONNECT (Python 3.11 has no constant): connect to a peer
#: without RFC 5746 secure renegotiation.  OP_NO_RENEGOTIATION stays set alongside it.
OP_LEGACY_SERVER_CONNECT = 0x4
#: TLS 1.3 suites that may be enabled (all AEAD; CCM_8's 64-bit tag is left out)
TLS13_ALLOWED = (
    "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256",
)
#: every TLS 1.3 suite name OpenSSL knows, allowed or not (to tell a typo from a refusal)
TLS13_KNOWN = (*TLS13_ALLOWED, "TLS_AES_128_CCM_8_SHA256", "TLS_SHA256_SHA256", "TLS_SHA384_SHA384")
#: TLS 1.3 suites per profile; None keeps OpenSSL's defaults (the three AEAD suites above
#: but CCM), so that the default configuration needs no call through the OpenSSL bridge
PROFILE_TLS13: dict[str, str | None] = {
    "modern": None,
    "intermediate": None,
    "legacy": None,
}
_V = ssl.TLSVersion
VERSIONS = {"1.0": _V.TLSv1, "1.1": _V.TLSv1_1, "1.2": _V.TLSv1_2, "1.3": _V.TLSv1_3}
PROFILE_VERSIONS = {
    "modern": (_V.TLSv1_3, _V.TLSv1_3),
    "intermediate": (_V.TLSv1_2, _V.TLSv1_3),
    "legacy": (_V.TLSv1_2, _V.TLSv1_3),
}
VERSION_NAMES = {"TLSv1": "1.0", "TLSv1.1": "1.1", "TLSv1.2": "1.2", "TLSv1.3": "1.3"}
_SECLEVEL = re.compile(r"@SECLEVEL", re.IGNORECASE)
#: a negotiated suite whose OpenSSL description matches this is never acceptable
BAD_DESCRIPTION = re.compile(
    r"Au=None|Enc=None|Enc=RC4|Enc=3DES|Enc=DES\(|Mac=MD5|Kx=(?:\w*PSK|SRP)"
)
#: sizes the max_fragment_length extension can ask the server for (RFC 6066)
MFL_SIZES = (512, 1024, 2048, 4096)
#: bytes a TLS record may carry beyond its plaintext: IV or explicit nonce, MAC or AEAD
#: tag, and CBC padding (16 + 48 + 256); a record larger than its cap plus this broke it
RECORD_OVERHEAD = 320


def version_name(raw: str | None) -> str | None:
    """``"TLSv1.2"`` (``ssl``'s spelling) as ``"1.2"`` (OpenTelemetry's); other values as is."""
    if raw is None:
        return None
    return VERSION_NAMES.get(raw, raw)


@functools.cache
def default_security_level() -> int:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).security_level


def compose(ciphers: str, level: int) -> str:
    """``ciphers`` with the security level stated where needed and the forbidden suffix added."""
    parts = [p for p in re.split(r"[:, ]+", ciphers) if p]
    prefix = [f"@SECLEVEL={level}"] if level != default_security_level() else []
    return ":".join([*prefix, *parts, FORBIDDEN_CIPHERS])


def cipher_string_verdict(s: str) -> Literal["ok", "seclevel", "forbidden", "invalid"]:
    """Whether ``s`` can be ``SOAPGUARD_CIPHERS``, and if not why.

    ``seclevel``: it sets a security level (that is ``SOAPGUARD_TLS_SECURITY_LEVEL``'s job);
    ``forbidden``: OpenSSL accepts it, but every suite it selects is never offered;
    ``invalid``: OpenSSL selects nothing from it (unknown names, or suites it lacks).
    """
    if _SECLEVEL.search(s):
        return "seclevel"
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.set_ciphers(compose(s, default_security_level()))
    except ssl.SSLError:
        pass
    else:
        return "ok"
    try:
        probe.set_ciphers(s)
    except ssl.SSLError:
        return "invalid"
    return "forbidden"


def validate_cipher_string(s: str) -> bool:
    """Whether the OpenSSL cipher string ``s`` selects at least one allowed cipher."""
    return cipher_string_verdict(s) == "ok"


def validate_tls13_ciphersuites(s: str) -> bool:
    """Whether ``s`` (colon-separated) names at least one allowed TLS 1.3 suite."""
    return any(name.strip() in TLS13_ALLOWED for name in s.split(":"))
