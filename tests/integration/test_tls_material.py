"""Bad TLS material is a ConfigError naming the variable when the client is built, never later."""

from __future__ import annotations

import gc
import socket
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

import soapguard
from servers.oneshot import OneShotServer
from soapguard import tls
from soapguard.config import Config


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    tls.clear_cache()
    yield
    tls.clear_cache()


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Exceptions Python could only print (e.g. from ``__del__``)."""
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


@pytest.fixture
def client_files(ca: trustme.CA, tmp_path: Path) -> dict[str, str]:
    """A client certificate, its key (plain and encrypted), another key, and junk."""
    leaf = ca.issue_cert("client@example.test")
    other = ca.issue_cert("other@example.test")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"hunter2-pass"),
    )
    files = {
        "cert": leaf.cert_chain_pems[0].bytes(),
        "key": leaf.private_key_pem.bytes(),
        "encrypted_key": encrypted,
        "other_key": other.private_key_pem.bytes(),
        "junk": b"this is not PEM\n",
    }
    paths = {}
    for name, data in files.items():
        (tmp_path / f"{name}.pem").write_bytes(data)
        paths[name] = str(tmp_path / f"{name}.pem")
    (tmp_path / "dir").mkdir()
    paths["dir"] = str(tmp_path / "dir")
    return paths


def build_error(env: dict[str, str]) -> soapguard.ConfigError:
    """The ConfigError building a Transport from ``env`` raises."""
    with pytest.raises(soapguard.ConfigError) as info:
        soapguard.Transport(config=Config.from_env(env))
    return info.value


def problems_of_a_failed_build(env: dict[str, str]) -> list[tuple[str, str]]:
    """Like :func:`build_error`, but drops the traceback so the half-built object can go."""
    try:
        soapguard.Transport(config=Config.from_env(env))
    except soapguard.ConfigError as exc:
        return list(exc.problems)
    raise AssertionError("no ConfigError")


def test_ca_bundle_that_is_not_a_certificate(client_files: dict[str, str]) -> None:
    error = build_error({"SOAPGUARD_CA_BUNDLE": client_files["junk"]})
    assert error.problems == [("SOAPGUARD_CA_BUNDLE", "contains no PEM certificate")]
    assert error.__suppress_context__  # no raw X509 error in the traceback
    assert client_files["junk"] not in str(error)  # soapguard's own CA path may be sensitive


def test_a_failed_transport_leaves_nothing_to_fail_in_del(
    client_files: dict[str, str], unraisable: list[Any]
) -> None:
    env = {
        "SOAPGUARD_CLIENT_CERT": client_files["cert"],
        "SOAPGUARD_CLIENT_KEY": client_files["encrypted_key"],
    }
    assert problems_of_a_failed_build(env)
    assert problems_of_a_failed_build({"SOAPGUARD_CA_BUNDLE": client_files["junk"]})
    gc.collect()
    assert unraisable == []


def test_ca_bundle_directory_without_hashed_names(client_files: dict[str, str]) -> None:
    error = build_error({"SOAPGUARD_CA_BUNDLE": client_files["dir"]})
    assert error.problems[0][0] == "SOAPGUARD_CA_BUNDLE"
    assert "openssl rehash" in error.problems[0][1]


def test_client_cert_that_is_not_a_certificate(client_files: dict[str, str]) -> None:
    error = build_error({"SOAPGUARD_CLIENT_CERT": client_files["junk"]})
    assert error.problems == [("SOAPGUARD_CLIENT_CERT", "contains no PEM certificate")]


def test_client_cert_without_a_key(client_files: dict[str, str]) -> None:
    error = build_error({"SOAPGUARD_CLIENT_CERT": client_files["cert"]})
    assert error.problems[0][0] == "SOAPGUARD_CLIENT_CERT"
    assert "holds no PEM private key: set SOAPGUARD_CLIENT_KEY" in error.problems[0][1]


def test_client_key_that_does_not_match(client_files: dict[str, str]) -> None:
    env = {
        "SOAPGUARD_CLIENT_CERT": client_files["cert"],
        "SOAPGUARD_CLIENT_KEY": client_files["other_key"],
    }
    error = build_error(env)
    assert dict(error.problems) == {
        "SOAPGUARD_CLIENT_KEY": "does not match the certificate in SOAPGUARD_CLIENT_CERT",
        "SOAPGUARD_CLIENT_CERT": "does not match the key in SOAPGUARD_CLIENT_KEY",
    }


def test_client_key_that_is_junk(client_files: dict[str, str]) -> None:
    env = {
        "SOAPGUARD_CLIENT_CERT": client_files["cert"],
        "SOAPGUARD_CLIENT_KEY": client_files["junk"],
    }
    assert build_error(env).problems == [("SOAPGUARD_CLIENT_KEY", "contains no PEM private key")]


@pytest.mark.parametrize("var", ["SOAPGUARD_CLIENT_CERT", "SOAPGUARD_CLIENT_KEY"])
def test_directory_where_a_file_is_expected(client_files: dict[str, str], var: str) -> None:
    env = {"SOAPGUARD_CLIENT_CERT": client_files["cert"], var: client_files["dir"]}
    with pytest.raises(soapguard.ConfigError) as info:
        Config.from_env(env)
    kind = "certificate" if var.endswith("CERT") else "key"
    assert info.value.problems == [(var, f"expected an existing {kind} file (it is a directory)")]
    assert client_files["dir"] not in str(info.value)


def test_encrypted_key_with_its_password(client_files: dict[str, str]) -> None:
    env = {
        "SOAPGUARD_CLIENT_CERT": client_files["cert"],
        "SOAPGUARD_CLIENT_KEY": client_files["encrypted_key"],
        "SOAPGUARD_CLIENT_KEY_PASSWORD": "hunter2-pass",
    }
    transport = soapguard.Transport(config=Config.from_env(env))
    assert transport.adapter.ssl_context is not None


def test_encrypted_key_without_password_names_the_password_variable(
    client_files: dict[str, str],
) -> None:
    env = {
        "SOAPGUARD_CLIENT_CERT": client_files["cert"],
        "SOAPGUARD_CLIENT_KEY": client_files["encrypted_key"],
    }
    error = build_error(env)
    assert error.problems == [
        ("SOAPGUARD_CLIENT_KEY", "is encrypted: set SOAPGUARD_CLIENT_KEY_PASSWORD")
    ]


def test_wrong_password_is_named_but_never_shown(client_files: dict[str, str]) -> None:
    env = {
        "SOAPGUARD_CLIENT_CERT": client_files["cert"],
        "SOAPGUARD_CLIENT_KEY": client_files["encrypted_key"],
        "SOAPGUARD_CLIENT_KEY_PASSWORD": "wrong-s3cret",
    }
    error = build_error(env)
    assert error.problems == [
        ("SOAPGUARD_CLIENT_KEY_PASSWORD", "does not decrypt SOAPGUARD_CLIENT_KEY")
    ]
    assert "wrong-s3cret" not in repr(error)


def test_code_set_material_is_named_by_field(client_files: dict[str, str]) -> None:
    with pytest.raises(soapguard.ConfigError) as info:
        soapguard.Transport(config=Config(ca_bundle=client_files["junk"]))
    assert info.value.problems == [
        ("ca_bundle (SOAPGUARD_CA_BUNDLE)", "contains no PEM certificate")
    ]


def test_requests_ca_bundle_that_does_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/corp-ca.pem")
    with pytest.raises(soapguard.ConfigError) as info:
        soapguard.Client("https://127.0.0.1:1/svc?wsdl", config=Config())
    assert info.value.problems == [
        ("REQUESTS_CA_BUNDLE", "'/nonexistent/corp-ca.pem' does not exist")
    ]


def test_mutual_tls_with_an_encrypted_key_reaches_the_server(
    client_files: dict[str, str],
    ca_file: str,
    cert_files: tuple[str, str],
) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*cert_files)
    server_ctx.load_verify_locations(cafile=ca_file)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    config = Config(
        ca_bundle=ca_file,
        client_cert=client_files["cert"],
        client_key=client_files["encrypted_key"],
        client_key_password="hunter2-pass",
    )

    def hello(conn: ssl.SSLSocket) -> None:
        assert conn.recv(5) == b"hello"

    with OneShotServer(server_ctx, hello) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with tls.context_for(config).wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(b"hello")
    assert server.error is None
    assert server.peer_cert is not None
