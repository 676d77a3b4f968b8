"""Loading the trust store and the client certificate into a context, with errors people can act on.

OpenSSL's own messages for a bad file name neither the setting nor the
problem (``[SSL] PEM lib``, ``[X509: NO_CERTIFICATE_OR_CRL_FOUND]``, an
``IsADirectoryError`` without a path).  Here every failure becomes a
:class:`~soapguard.ConfigError` naming the variable (or the setting in code)
and what is wrong with the file.  Paths from soapguard's own variables may be
sensitive and are never shown; paths from other tools' variables
(``REQUESTS_CA_BUNDLE``...) and from ``session.verify`` are, so the file can be
found.  A password is never shown, and a key is never written anywhere.
"""

from __future__ import annotations

import os
import re
import ssl
import time
import weakref
from typing import TYPE_CHECKING, NoReturn

from ..config import Config, label
from ..config._vars import truncate
from ..errors import ConfigError

if TYPE_CHECKING:  # x509 parsing loads with a client certificate
    from .x509 import CertInfo

#: a name ``openssl rehash`` gives a CA certificate (or CRL) in a CA directory
_HASHED = re.compile(r"[0-9a-f]{8}\.r?\d+")
#: the most of a client certificate file read (a PEM chain or PKCS#12 file is kilobytes)
_MAX_CERT_FILE = 1 << 20
_CLIENT: weakref.WeakKeyDictionary[ssl.SSLContext, CertInfo] = weakref.WeakKeyDictionary()


def load_ca(ctx: ssl.SSLContext, path: str | None, where: str, *, show_path: bool) -> None:
    """Trust the CA file or directory ``path`` (the system store if None); ``where`` names it."""
    if path is None:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return

    def fail(problem: str) -> NoReturn:
        shown = f"{truncate(path)!r} " if show_path else ""
        raise ConfigError([(where, shown + problem)]) from None

    if os.path.isdir(path):
        if not _has_hashed_names(path):
            fail("is a directory without hashed certificate names (run `openssl rehash` on it)")
        ctx.load_verify_locations(capath=path)  # OpenSSL reads its files when it needs them
        return
    try:
        ctx.load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        if exc.reason == "NO_CERTIFICATE_OR_CRL_FOUND":
            fail("contains no PEM certificate")
        fail(f"cannot be loaded as PEM certificates ({exc.reason or exc.library or 'OpenSSL'})")
    except OSError as exc:
        fail(_os_problem(exc))


def load_client_cert(ctx: ssl.SSLContext, config: Config, *, now: float | None = None) -> None:
    """Load ``config``'s client certificate and key; every failure names the setting at fault.

    PEM files go to OpenSSL as they are (an encrypted key is decrypted in memory,
    with ``SOAPGUARD_CLIENT_KEY_PASSWORD``); a PKCS#12 file goes through
    :mod:`soapguard.tls.pkcs12`.  A certificate that has expired (at ``now``, a Unix
    time) is refused too.  What was loaded is then :func:`client_certificate` of ``ctx``.
    """
    cert = config.client_cert
    if cert is None:
        return
    cert_at = label(config, "client_cert")
    try:
        with open(cert, "rb") as file:
            data = file.read(_MAX_CERT_FILE)
    except OSError as exc:
        raise ConfigError([(cert_at, _os_problem(exc))]) from None
    from . import pkcs12  # a client certificate is configured: PKCS#12 may be needed

    if pkcs12.is_pkcs12(cert, data):
        info = pkcs12.load(ctx, data, config)
    else:
        info = _load_pem(ctx, config, cert, data)
    current = time.time() if now is None else now
    if info.seconds_left(current) <= 0:
        raise ConfigError([(cert_at, f"expired on {info.not_after_text}")])
    _CLIENT[ctx] = info


def client_certificate(ctx: ssl.SSLContext) -> CertInfo | None:
    """The client certificate loaded into ``ctx`` by :func:`load_client_cert`, if any."""
    return _CLIENT.get(ctx)


def _load_pem(ctx: ssl.SSLContext, config: Config, cert: str, data: bytes) -> CertInfo:
    key, password = config.client_key, config.client_key_password
    cert_at = label(config, "client_cert")
    key_at = label(config, "client_key") if key is not None else cert_at
    from .x509 import first_pem_certificate, parse

    der = first_pem_certificate(data)
    try:
        info = parse(der) if der is not None else None
    except ValueError:
        info = None
    if info is None:
        raise ConfigError([(cert_at, "contains no PEM certificate")])
    asked: list[bool] = []

    def password_for_key() -> bytes:
        """Called by OpenSSL only for an encrypted key: never prompts on a terminal."""
        asked.append(True)
        if password is None:
            raise ConfigError([(key_at, "is encrypted: set SOAPGUARD_CLIENT_KEY_PASSWORD")])
        return password.encode()

    try:
        ctx.load_cert_chain(cert, key, password=password_for_key)
    except ssl.SSLError as exc:
        raise ConfigError(_key_problems(config, exc, asked=bool(asked))) from None
    except OSError as exc:
        raise ConfigError([(key_at, _os_problem(exc))]) from None
    return info


def _key_problems(config: Config, exc: ssl.SSLError, *, asked: bool) -> list[tuple[str, str]]:
    cert_at = label(config, "client_cert")
    if config.client_key is None:
        if exc.reason == "KEY_VALUES_MISMATCH":
            return [(cert_at, "holds a private key that does not match its certificate")]
        if asked:
            return [(label(config, "client_key_password"), "does not decrypt the key")]
        return [(cert_at, "holds no PEM private key: set SOAPGUARD_CLIENT_KEY or append the key")]
    key_at = label(config, "client_key")
    if exc.reason == "KEY_VALUES_MISMATCH":
        return [
            (key_at, "does not match the certificate in SOAPGUARD_CLIENT_CERT"),
            (cert_at, "does not match the key in SOAPGUARD_CLIENT_KEY"),
        ]
    if asked:
        return [(label(config, "client_key_password"), "does not decrypt SOAPGUARD_CLIENT_KEY")]
    return [(key_at, "contains no PEM private key")]


def _has_hashed_names(directory: str) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(_HASHED.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False


def _os_problem(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "does not exist"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "cannot be read (permission denied)"
    return f"cannot be read ({exc.strerror or type(exc).__name__})"
