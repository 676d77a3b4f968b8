"""soapguard.tls against a non-Python TLS stack: ``openssl s_server`` on 127.0.0.1.

Each refusal is paired with a positive control (a client that *does* reach the
same server), so a refusal can only pass because of soapguard's settings.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.tls_peers import OPENSSL, SServer
from soapguard.config import Config
from soapguard.testing import FaultProxy
from soapguard.tls import context as tls
from soapguard.transport.evidence import ConnInfo

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command (apt openssl)")
TLS10_DEPRECATED = pytest.mark.filterwarnings(
    "ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning"
)
FILE_SIZE = 100_000
OVERHEAD = 64


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    tls.clear_cache()
    yield
    tls.clear_cache()


def connect(ctx: ssl.SSLContext, port: int) -> ConnInfo:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
        info = ConnInfo("localhost", port)
        tls.describe_connection(sock, info)
        return info


def test_static_rsa_cbc_server_needs_legacy(ca_file: str, cert_files: tuple[str, str]) -> None:
    with SServer(cert_files, "-tls1_2", "-cipher", "AES128-SHA") as server:
        with pytest.raises(ssl.SSLError, match="handshake failure"):
            connect(tls.context_for(Config(ca_bundle=ca_file)), server.port)
        info = connect(
            tls.context_for(Config(ca_bundle=ca_file, tls_profile="legacy")), server.port
        )
    assert info.tls_version == "1.2"
    assert info.cipher == "AES128-SHA"


@TLS10_DEPRECATED
def test_tls10_server_is_refused_by_default(ca_file: str, cert_files: tuple[str, str]) -> None:
    with SServer(cert_files, "-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0") as server:
        for profile in ("intermediate", "legacy"):
            config = Config(ca_bundle=ca_file, tls_profile=profile)
            with pytest.raises(ssl.SSLError, match=r"protocol version|unsupported protocol"):
                connect(tls.context_for(config), server.port)
        opt_in = Config(
            ca_bundle=ca_file, tls_profile="legacy", tls_min_version="1.0", tls_security_level=0
        )
        info = connect(tls.context_for(opt_in), server.port)
    assert info.tls_version == "1.0"


def test_null_cipher_server_is_never_reached(ca_file: str, cert_files: tuple[str, str]) -> None:
    asks_for_null = Config(
        ca_bundle=ca_file, tls_profile="legacy", ciphers="NULL-SHA256:AES128-SHA"
    )
    with SServer(cert_files, "-tls1_2", "-cipher", "NULL-SHA256:@SECLEVEL=0") as server:
        with pytest.raises(ssl.SSLError, match="handshake failure"):
            connect(tls.context_for(asks_for_null), server.port)
        # control: a plain client that does enable NULL reaches this very server
        plain = ssl.create_default_context(cafile=ca_file)
        plain.maximum_version = ssl.TLSVersion.TLSv1_2
        plain.set_ciphers("NULL-SHA256:@SECLEVEL=0")
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with plain.wrap_socket(raw, server_hostname="localhost") as sock:
            assert sock.cipher()[0] == "NULL-SHA256"  # type: ignore[index]


def _download(ctx: ssl.SSLContext, port: int) -> tuple[bytes, ConnInfo]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
        sock.sendall(b"GET /big.txt HTTP/1.0\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        info = ConnInfo("localhost", port)
        tls.describe_connection(sock, info)
    return b"".join(chunks), info


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("cap", [1024, None], ids=["capped", "uncapped"])
def test_openssl_server_honours_max_fragment_length(
    version: str, cap: int | None, ca_file: str, cert_files: tuple[str, str], tmp_path: Path
) -> None:
    body = os.urandom(FILE_SIZE // 2).hex().encode()
    (tmp_path / "big.txt").write_bytes(body)
    config = Config(ca_bundle=ca_file, max_record_size=cap, tls_max_version=version)
    with (
        SServer(cert_files, "-WWW", cwd=str(tmp_path)) as server,
        FaultProxy(("127.0.0.1", server.port)) as proxy,
    ):
        data, info = _download(tls.context_for(config), proxy.port)
        sizes = [length for _, length in proxy.stats().connection_records[0].records_s2c]
    assert data.endswith(body)
    assert info.tls_version == version
    if cap is None:
        assert max(sizes) > 16000
        assert info.max_fragment_length is None
    else:
        assert max(sizes) <= cap + OVERHEAD
        assert info.max_fragment_length == cap
