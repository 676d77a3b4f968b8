"""soapguard.tls: profiles, forbidden suites, CA loading and verification, on real loopback TLS."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from servers.oneshot import OneShotServer
from soapguard.config import Config
from soapguard.errors import ConfigError
from soapguard.tls import context as tls
from soapguard.tls import profiles
from soapguard.transport.evidence import ConnInfo

V = ssl.TLSVersion
AEAD_TLS13 = {"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"}
TLS10_DEPRECATED = pytest.mark.filterwarnings(
    "ignore:ssl.TLSVersion.TLSv1(_1)? is deprecated:DeprecationWarning"
)
# Written independently of soapguard.tls: what must never be offered, by OpenSSL description.
FORBIDDEN = re.compile(
    r"Au=None|Enc=None|Enc=RC4|Enc=3DES|Enc=DES\(|Mac=MD5|Kx=\w*PSK|Kx=SRP|export", re.IGNORECASE
)


def handshake(ctx: ssl.SSLContext, port: int, hostname: str = "localhost") -> ConnInfo:
    """Connect, complete the handshake, say hello, return what describe_connection saw."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=hostname) as sock:
        info = ConnInfo(hostname, port)
        tls.describe_connection(sock, info)
        sock.sendall(b"hello")
        return info


def echo_hello(conn: ssl.SSLSocket) -> None:
    assert conn.recv(5) == b"hello"


def names(ctx: ssl.SSLContext, protocol: str | None = None) -> list[str]:
    return [c["name"] for c in ctx.get_ciphers() if protocol in (None, c["protocol"])]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    tls.clear_cache()
    yield
    tls.clear_cache()


@pytest.fixture
def server(server_ssl_context: Callable[..., ssl.SSLContext]) -> Iterator[OneShotServer]:
    with OneShotServer(server_ssl_context(), echo_hello) as srv:
        yield srv


# -- profiles -----------------------------------------------------------------------------


@TLS10_DEPRECATED
@pytest.mark.parametrize(
    ("config", "bounds"),
    [
        (Config(tls_profile="modern"), (V.TLSv1_3, V.TLSv1_3)),
        (Config(), (V.TLSv1_2, V.TLSv1_3)),
        (Config(tls_profile="legacy"), (V.TLSv1_2, V.TLSv1_3)),
        (
            Config(tls_profile="legacy", tls_min_version="1.0", tls_security_level=0),
            (V.TLSv1, V.TLSv1_3),
        ),
        (Config(tls_max_version="1.2"), (V.TLSv1_2, V.TLSv1_2)),
    ],
)
def test_profile_versions(config: Config, bounds: tuple[V, V]) -> None:
    assert tls.version_bounds(config) == bounds
    ctx = tls.context_for(config)
    assert (ctx.minimum_version, ctx.maximum_version) == bounds


def test_max_version_below_profile_minimum_is_refused() -> None:
    with pytest.raises(ConfigError, match="tls_max_version"):
        tls.version_bounds(Config(tls_profile="legacy", tls_max_version="1.1"))


def test_intermediate_is_ecdhe_aead_only() -> None:
    ctx = tls.context_for(Config())
    tls12 = [c for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12
    for c in tls12:
        assert "Kx=ECDH" in c["description"], c["name"]
        assert c["aead"], c["name"]
    assert set(names(ctx, "TLSv1.3")) == AEAD_TLS13


def test_legacy_adds_static_rsa_and_cbc() -> None:
    intermediate = set(names(tls.context_for(Config())))
    legacy = set(names(tls.context_for(Config(tls_profile="legacy"))))
    assert intermediate < legacy
    added = legacy - intermediate
    assert {"AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA"} <= added
    assert all(("AES" in name) for name in added)


@pytest.mark.parametrize("profile", ["modern", "intermediate", "legacy"])
def test_tls13_suites_are_the_aead_three(profile: str) -> None:
    config = Config(tls_profile=profile)  # type: ignore[arg-type]
    assert tls.tls13_ciphersuites(config) is None  # OpenSSL's defaults: no bridge needed
    assert set(names(tls.context_for(config), "TLSv1.3")) == AEAD_TLS13


def test_tls13_pin_drops_disallowed_suites() -> None:
    config = Config(tls13_ciphersuites="TLS_AES_128_CCM_8_SHA256:TLS_AES_128_GCM_SHA256")
    assert tls.tls13_ciphersuites(config) == "TLS_AES_128_GCM_SHA256"
    with pytest.raises(ConfigError, match="tls13_ciphersuites"):
        tls.tls13_ciphersuites(Config(tls13_ciphersuites="TLS_AES_128_CCM_8_SHA256"))
    assert not profiles.validate_tls13_ciphersuites("TLS_FAKE_SUITE")


def test_context_basics() -> None:
    ctx = tls.context_for(Config())
    assert ctx.check_hostname is True
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    for option in (ssl.OP_NO_COMPRESSION, ssl.OP_NO_RENEGOTIATION, ssl.OP_NO_TICKET):
        assert ctx.options & option
    assert ctx.security_level >= ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).security_level


# -- never offered ------------------------------------------------------------------------


@pytest.mark.parametrize("cipher_string", ["NULL", "eNULL:RC4", "aNULL", "NULL-SHA256"])
def test_cipher_strings_selecting_only_forbidden_suites_are_refused(cipher_string: str) -> None:
    assert not profiles.validate_cipher_string(cipher_string)
    assert profiles.cipher_string_verdict(cipher_string) == "forbidden"
    with pytest.raises(ConfigError, match=r"ciphers .*never offers"):
        Config(ciphers=cipher_string)


@pytest.mark.parametrize("cipher_string", ["NO-SUCH-CIPHER", "RC4-MD5", ""])
def test_cipher_strings_openssl_cannot_use_are_refused(cipher_string: str) -> None:
    assert profiles.cipher_string_verdict(cipher_string) == "invalid"


@pytest.mark.parametrize(
    "cipher_string",
    [
        "ALL:COMPLEMENTOFALL",
        "eNULL:RC4:AES128-SHA",
        "NULL-SHA256:DES-CBC3-SHA:ADH-AES128-SHA:PSK-AES128-CBC-SHA:AES128-SHA",
        "RC4-MD5,EXP-RC4-MD5 AES256-SHA",
    ],
)
@pytest.mark.parametrize("profile", ["intermediate", "legacy"])
def test_forbidden_suites_never_in_context(cipher_string: str, profile: str) -> None:
    config = Config(tls_profile=profile, ciphers=cipher_string)  # type: ignore[arg-type]
    ctx = tls.context_for(config)
    offered = ctx.get_ciphers()
    assert any(c["protocol"] != "TLSv1.3" for c in offered)  # the allowed part survives
    bad = [c["name"] for c in offered if FORBIDDEN.search(c["description"])]
    assert bad == []
    assert ctx.security_level >= ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).security_level


# -- security level -----------------------------------------------------------------------


@TLS10_DEPRECATED
@pytest.mark.parametrize(
    ("config", "level"),
    [
        (Config(), None),
        (Config(tls_profile="legacy"), None),
        (Config(tls_profile="legacy", tls_security_level=1), 1),
        (Config(tls_profile="legacy", tls_min_version="1.0", tls_security_level=0), 0),
        (Config(tls_profile="legacy", tls_min_version="1.1", tls_security_level=0), 0),
    ],
)
def test_security_level_is_the_configured_one(config: Config, level: int | None) -> None:
    default = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).security_level
    composed = tls.cipher_string(config)
    if level is None:  # 2, OpenSSL's default here: no directive needed
        assert "@SECLEVEL" not in composed
        assert tls.context_for(config).security_level == max(2, default)
    else:
        assert composed.startswith(f"@SECLEVEL={level}:")
        assert tls.context_for(config).security_level == level
    assert not any(
        FORBIDDEN.search(c["description"]) for c in tls.context_for(config).get_ciphers()
    )


@TLS10_DEPRECATED
def test_security_level_zero_still_never_offers_forbidden_suites() -> None:
    config = Config(
        tls_profile="legacy",
        tls_min_version="1.0",
        tls_security_level=0,
        ciphers="ALL:COMPLEMENTOFALL",
    )
    ctx = tls.context_for(config)
    assert ctx.security_level == 0
    assert [c["name"] for c in ctx.get_ciphers() if FORBIDDEN.search(c["description"])] == []


@pytest.mark.parametrize("cipher_string", ["ALL:@SECLEVEL=0", "AES128-SHA:@seclevel=1"])
def test_seclevel_inside_ciphers_points_at_the_security_level_variable(
    cipher_string: str,
) -> None:
    assert profiles.cipher_string_verdict(cipher_string) == "seclevel"
    with pytest.raises(ConfigError) as info:
        Config.from_env({"SOAPGUARD_CIPHERS": cipher_string})
    assert info.value.problems == [
        (
            "SOAPGUARD_CIPHERS",
            "must not contain @SECLEVEL: set SOAPGUARD_TLS_SECURITY_LEVEL instead, "
            f"got {cipher_string!r}",
        )
    ]


# -- trust --------------------------------------------------------------------------------


def _count_ca_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        calls.append((args, kwargs))
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    return calls


def test_ca_file_is_loaded_once(
    monkeypatch: pytest.MonkeyPatch, ca_file: str, server_ssl_context: Callable[..., ssl.SSLContext]
) -> None:
    calls = _count_ca_loads(monkeypatch)
    config = Config(ca_bundle=ca_file)
    first = tls.context_for(config)
    for _ in range(2):
        with OneShotServer(server_ssl_context(), echo_hello) as srv:
            handshake(tls.context_for(Config(ca_bundle=ca_file, max_attempts=5)), srv.port)
        assert srv.error is None
    assert tls.context_for(config) is first
    assert len(calls) == 1


def test_ca_directory(tmp_path: Path, ca: trustme.CA, ca_file: str, server: OneShotServer) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to name a hashed CA directory entry")
    subject_hash = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", ca_file],
        capture_output=True, text=True, check=True, timeout=10,
    ).stdout.strip()  # fmt: skip
    ca.cert_pem.write_to_path(str(tmp_path / f"{subject_hash}.0"))
    info = handshake(tls.context_for(Config(ca_bundle=str(tmp_path))), server.port)
    assert info.tls_version in ("1.2", "1.3")


def test_wrong_hostname_is_refused(ca_file: str, server: OneShotServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(tls.context_for(Config(ca_bundle=ca_file)), server.port, "other.example")


def test_untrusted_ca_is_refused(tmp_path: Path, server: OneShotServer) -> None:
    stranger = tmp_path / "stranger.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(tls.context_for(Config(ca_bundle=str(stranger))), server.port)


def test_system_store_does_not_trust_test_ca(server: OneShotServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(tls.context_for(Config()), server.port)


def test_verify_path_from_code_replaces_ca_bundle(
    tmp_path: Path, ca_file: str, server: OneShotServer
) -> None:
    stranger = tmp_path / "stranger.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    ctx = tls.context_for(Config(ca_bundle=str(stranger)), verify=ca_file)
    assert handshake(ctx, server.port).cert_sha256 is not None


def test_verify_false_only_from_code(server: OneShotServer) -> None:
    assert not [f.name for f in fields(Config) if "verif" in f.name]
    ctx = tls.context_for(Config(), verify=False)
    assert ctx.verify_mode == ssl.CERT_NONE
    assert not ctx.check_hostname
    assert tls.context_for(Config()).verify_mode == ssl.CERT_REQUIRED
    assert handshake(ctx, server.port, "anything.example").cipher is not None


def test_client_certificate(
    ca: trustme.CA, ca_file: str, cert_files: tuple[str, str], tmp_path: Path
) -> None:
    client = ca.issue_cert("client@example.test")
    client_pem = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(client_pem))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*cert_files)
    server_ctx.load_verify_locations(cafile=ca_file)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    with OneShotServer(server_ctx, echo_hello) as srv:
        handshake(tls.context_for(Config(ca_bundle=ca_file, client_cert=str(client_pem))), srv.port)
    assert srv.error is None
    assert srv.peer_cert is not None


def test_encrypted_client_key_is_refused_not_prompted(ca: trustme.CA, tmp_path: Path) -> None:
    client = ca.issue_cert("client@example.test")
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret-pass"),
    )
    (tmp_path / "key.pem").write_bytes(encrypted)
    client.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    config = Config(client_cert=str(tmp_path / "cert.pem"), client_key=str(tmp_path / "key.pem"))
    with pytest.raises(ConfigError, match="encrypted") as excinfo:
        tls.context_for(config)
    assert "s3cret" not in str(excinfo.value)


def test_shared_context_does_not_reset_unchanged_alpn(
    monkeypatch: pytest.MonkeyPatch, cert_files: tuple[str, str], ca_file: str
) -> None:
    """urllib3 re-sets ALPN on every connection; on a shared context that must be a no-op."""
    ctx = tls.context_for(Config(ca_bundle=ca_file))
    calls: list[list[str]] = []
    original = ssl.SSLContext.set_alpn_protocols

    def counting(self: ssl.SSLContext, protocols: list[str]) -> None:
        if self is ctx:
            calls.append(list(protocols))
        original(self, protocols)

    monkeypatch.setattr(ssl.SSLContext, "set_alpn_protocols", counting)
    for _ in range(3):
        ctx.set_alpn_protocols(["http/1.1"])
    assert calls == []
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*cert_files)
    server_ctx.set_alpn_protocols(["h2", "http/1.1"])
    with OneShotServer(server_ctx, echo_hello) as srv:
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
            assert sock.selected_alpn_protocol() == "http/1.1"
            sock.sendall(b"hello")
    ctx.set_alpn_protocols(["h2"])
    assert calls == [["h2"]]
