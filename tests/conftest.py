"""Shared test bed: a throwaway CA (trustme), ledger and spyne servers on 127.0.0.1.

Every server here listens on 127.0.0.1 only and is stopped at teardown.  The
autouse ``_no_ca_env`` fixture removes the machine's CA-bundle, proxy and
``SOAPGUARD_*`` variables so that no test depends on how this machine is set up;
a test that needs one sets it with ``monkeypatch.setenv``.

Tests are split into ``tests/unit`` (no sockets: its conftest refuses them) and
``tests/integration`` (real servers on loopback).  Test-only helpers live in
``tests/helpers`` (``faulty``, ``servers.*``), which is put on ``sys.path`` below.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trustme

from soapguard.testing.ledger import LedgerServer
from soapguard.testing.ledger.http import server_context

_HELPERS = str(Path(__file__).resolve().parent / "helpers")
if _HELPERS not in sys.path:
    sys.path.insert(0, _HELPERS)

if TYPE_CHECKING:
    from identities import ClientIdentity
    from servers.spyne_app import SpyneServer

_ENV_TO_CLEAR = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
)


@pytest.fixture(autouse=True)
def _no_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset CA bundle, proxy (any case) and every ``SOAPGUARD_*`` variable."""
    for name in list(os.environ):
        if name.upper() in _ENV_TO_CLEAR or name.startswith("SOAPGUARD_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throwaway RSA CA (RSA so TLS-variant servers can offer static-RSA suites)."""
    return trustme.CA(key_type=trustme.KeyType.RSA)


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of the CA certificate (PEM) to give a client as its trust store."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    """A server certificate for ``localhost`` and ``127.0.0.1``."""
    return ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA)


@pytest.fixture(scope="session")
def cert_files(
    server_cert: trustme.LeafCert, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """``(certfile, keyfile)``: the server's chain PEM and its private key PEM."""
    directory = tmp_path_factory.mktemp("server-cert")
    chain, key = directory / "chain.pem", directory / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in server_cert.cert_chain_pems))
    server_cert.private_key_pem.write_to_path(str(key))
    return str(chain), str(key)


#: the password of every encrypted key and PKCS#12 file of :func:`client_identity`
CLIENT_KEY_PASSWORD = "Identity-Pa55word-2291"


@pytest.fixture(scope="session")
def client_identity(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> ClientIdentity:
    """A client certificate of the session CA, as PEM (plain and encrypted key) and PKCS#12."""
    from identities import make_identity

    return make_identity(ca, tmp_path_factory.mktemp("client-id"), password=CLIENT_KEY_PASSWORD)


@pytest.fixture
def server_ssl_context(cert_files: tuple[str, str]) -> Callable[..., ssl.SSLContext]:
    """Factory of server contexts for TLS-variant servers.

    ``server_ssl_context(min_version=ssl.TLSVersion.TLSv1_2,
    max_version=ssl.TLSVersion.TLSv1_2, ciphers="AES128-GCM-SHA256")``;
    unspecified versions default to TLS 1.2 to 1.3, ``ciphers`` to OpenSSL's.
    """

    def make(
        *,
        min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
        ciphers: str | None = None,
    ) -> ssl.SSLContext:
        context = server_context(*cert_files, minimum_version=min_version,
                                 maximum_version=max_version)  # fmt: skip
        if ciphers is not None:
            context.set_ciphers(ciphers)
        return context

    return make


@pytest.fixture
def make_ledger(cert_files: tuple[str, str]) -> Iterator[Callable[..., LedgerServer]]:
    """Factory of started ledger servers, all stopped at teardown.

    ``make_ledger()`` is TLS 1.2-1.3 with the session certificate;
    ``make_ledger(tls=False)`` is plain HTTP; any other keyword (``ssl_context=``,
    ``soap12=``, ``lifetime=`` ...) goes to :class:`LedgerServer`.
    """
    servers: list[LedgerServer] = []

    def make(*, tls: bool = True, **kwargs: object) -> LedgerServer:
        files = cert_files if tls and "ssl_context" not in kwargs else (None, None)
        server = LedgerServer(*files, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def ledger(make_ledger: Callable[..., LedgerServer]) -> LedgerServer:
    """A started TLS 1.2-1.3 ledger server (``ledger.url``, ``ledger.wsdl_url``)."""
    return make_ledger()


@pytest.fixture
def spyne_server(cert_files: tuple[str, str]) -> Iterator[SpyneServer]:
    """A started spyne SOAP 1.1 service over TLS (``.url``, ``.wsdl_url``)."""
    from servers.spyne_app import SpyneServer  # spyne is slow to import: only when used

    with SpyneServer(*cert_files) as server:
        yield server
