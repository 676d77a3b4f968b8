"""PKCS#12 client certificates (``.p12``/``.pfx``), loaded without a decrypted key on disk.

Python's ``ssl`` cannot read PKCS#12, and OpenSSL 3 refuses the RC2- and
3DES-encrypted files that older tools (Windows, Java keytool, ``openssl pkcs12``
before 3.0) still write unless its legacy provider is loaded.  The ``cryptography``
package reads both; it is the optional ``mtls`` extra (``pip install
'soapguard[mtls]'``), needed only for PKCS#12 files: PEM certificates and keys,
encrypted or not, are loaded by OpenSSL itself.

The file is opened in memory; its key is re-encrypted under a random one-time
password and handed to OpenSSL through :mod:`._memfile`, so the decrypted key
exists only inside this process.  Every problem is a :class:`~soapguard.ConfigError`
naming the variable at fault, and the password never appears in one.
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from ..config import Config, label
from ..errors import ConfigError
from . import _memfile
from .x509 import CertInfo, parse, tlv

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = ["is_pkcs12", "load", "looks_like_pfx"]

#: file name endings that announce a PKCS#12 file
SUFFIXES = (".p12", ".pfx")
_SEQUENCE, _INTEGER = 0x30, 0x02
#: DER of the RC2 PKCS#12 schemes (pbeWithSHAAnd128BitRC2-CBC, pbeWithSHAAnd40BitRC2-CBC)
_RC2_PBE = (bytes.fromhex("060a2a864886f70d010c0105"), bytes.fromhex("060a2a864886f70d010c0106"))


_NEEDS_EXTRA = (
    "is a PKCS#12 file, which needs the cryptography package: pip install 'soapguard[mtls]'"
)
_NO_MEMORY_FILE = (
    "is a PKCS#12 file, which this system cannot load without writing the key to disk "
    "(no memfd or /dev/fd): convert it to PEM with an encrypted key"
)


def looks_like_pfx(data: bytes) -> bool:
    """Whether ``data`` has the outer shape of a PKCS#12 PFX: ``SEQUENCE { INTEGER 3, ... }``."""
    try:
        tag, start, end = tlv(data, 0, len(data))
        if tag != _SEQUENCE:
            return False
        tag, value, stop = tlv(data, start, end)
    except ValueError:
        return False
    return tag == _INTEGER and data[value:stop] == b"\x03"


def is_pkcs12(path: str, data: bytes) -> bool:
    """Whether the certificate file at ``path`` is meant as PKCS#12 (by its name or content)."""
    if b"-----BEGIN" in data:
        return False
    return path.lower().endswith(SUFFIXES) or looks_like_pfx(data)


def load(ctx: ssl.SSLContext, data: bytes, config: Config) -> CertInfo:
    """Load the PKCS#12 ``data`` of ``config.client_cert`` into ``ctx``; its certificate's facts."""
    cert_at = label(config, "client_cert")

    def fail(where: str, problem: str) -> NoReturn:
        raise ConfigError([(where, problem)]) from None

    if not looks_like_pfx(data):
        fail(cert_at, "is neither a PEM certificate nor a PKCS#12 file")
    if config.client_key is not None:
        fail(
            label(config, "client_key"),
            "must be unset: the PKCS#12 file in SOAPGUARD_CLIENT_CERT holds the key",
        )
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12
    except ImportError:
        fail(cert_at, _NEEDS_EXTRA)
    key, cert, extra = _open(pkcs12, data, config, fail)
    if key is None:
        fail(cert_at, "holds no private key")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    public = key.public_key().public_bytes(der, spki)
    # the key's certificate: the one the file pairs with it, else one of the others (files
    # written without a localKeyId leave the pairing to the reader)
    certs = [c for c in (cert, *extra) if c is not None]
    leaf = next((c for c in certs if c.public_key().public_bytes(der, spki) == public), None)
    if leaf is None:
        fail(cert_at, "holds no certificate matching its private key")
    pem = serialization.Encoding.PEM
    chain = b"".join(c.public_bytes(pem) for c in (leaf, *(c for c in certs if c is not leaf)))
    one_time = secrets.token_urlsafe(32).encode("ascii")
    encrypted = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(one_time)
    )
    try:
        _memfile.load_cert_chain(ctx, chain, encrypted, one_time)
    except _memfile.Unavailable:
        fail(cert_at, _NO_MEMORY_FILE)
    except ssl.SSLError as exc:
        fail(cert_at, f"holds a key OpenSSL cannot use ({exc.reason or 'unknown reason'})")
    except OSError as exc:
        fail(cert_at, f"could not be handed to OpenSSL in memory ({exc.strerror or exc})")
    return parse(leaf.public_bytes(der))


def _open(
    pkcs12: Any, data: bytes, config: Config, fail: Callable[[str, str], NoReturn]
) -> tuple[Any, Certificate | None, list[Any]]:
    """``(key, certificate, other certificates)``, trying no password and the empty one
    when none is configured (tools write both for "no password")."""
    password = config.client_key_password
    tries = [None, b""] if password is None else [password.encode("utf-8")]
    for attempt in tries:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, attempt)
        except ValueError:
            continue
        return key, cert, list(extra)
    cert_at = label(config, "client_cert")
    if password is None:
        fail(cert_at, "is an encrypted PKCS#12 file: set SOAPGUARD_CLIENT_KEY_PASSWORD")
    problem = "does not decrypt the PKCS#12 file in SOAPGUARD_CLIENT_CERT"
    if any(oid in data for oid in _RC2_PBE):
        problem += (
            " (the file uses the legacy RC2 cipher: if the password is right, this build of "
            "the cryptography package cannot decrypt RC2)"
        )
    fail(label(config, "client_key_password"), problem)
