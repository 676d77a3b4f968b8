"""The OpenSSL bridge: validation before any write, safe fallback, effects on real handshakes."""

from __future__ import annotations

import _ssl
import ctypes
import socket
import ssl
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator

import pytest

from servers.oneshot import OneShotServer
from soapguard.config import Config
from soapguard.tls import _openssl
from soapguard.tls import context as tls
from soapguard.transport.evidence import ConnInfo

V = ssl.TLSVersion


def read_hello(conn: ssl.SSLSocket) -> None:
    conn.recv(5)


def connect(ctx: ssl.SSLContext, port: int) -> ConnInfo:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
        info = ConnInfo("localhost", port)
        tls.describe_connection(sock, info)
        assert info.cipher == sock.cipher()[0]  # type: ignore[index]
        sock.sendall(b"hello")
        return info


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fresh context cache, bridge and once-per-process warning state for every test."""
    tls.clear_cache()
    _openssl._load.cache_clear()
    monkeypatch.setattr(tls, "_warned", set())
    yield
    tls.clear_cache()
    _openssl._load.cache_clear()


@pytest.fixture
def server(server_ssl_context: Callable[..., ssl.SSLContext]) -> Callable[..., OneShotServer]:
    return lambda **versions: OneShotServer(server_ssl_context(**versions), read_hello)


def test_validation_succeeds_on_this_interpreter() -> None:
    first = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    second = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    options = first.options
    pointer = _openssl.validate(first)
    assert pointer != 0
    assert pointer != _openssl.validate(second)
    assert first.options == options  # the round trip restored what it toggled


@pytest.mark.parametrize(
    ("size", "send", "mfl"),
    [
        (512, 512, 512),
        (1024, 1024, 1024),
        (4096, 4096, 4096),
        (3000, 3000, None),
    ],
)
def test_caps_state_applied(size: int | None, send: int | None, mfl: int | None) -> None:
    state = tls.caps_state(tls.context_for(Config(max_record_size=size)))
    assert state == tls.CapsState(True, send, mfl, True, "")


def test_a_configuration_that_needs_no_bridge_never_loads_it() -> None:
    # in a fresh interpreter: the default configuration, and TLS 1.3 suites equal to
    # OpenSSL's defaults, build their contexts without loading the ctypes bridge at all
    code = (
        "import soapguard.tls.context as t, soapguard.tls._openssl as o\n"
        "from soapguard import Config\n"
        "a = t.caps_state(t.context_for(Config()))\n"
        "b = t.caps_state(t.context_for(Config(tls_profile='modern')))\n"
        "print(a.applied, b.applied, o._load.cache_info().currsize)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "None", "0"]


def test_non_default_tls13_suites_go_through_the_bridge() -> None:
    config = Config(tls13_ciphersuites="TLS_AES_128_GCM_SHA256")
    state = tls.caps_state(tls.context_for(config))
    assert (state.applied, state.tls13_suites_applied) == (True, True)


def test_foreign_context_is_not_applied() -> None:
    state = tls.caps_state(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    assert not state.applied
    assert "not built by soapguard" in state.detail


def test_read_back_mismatch_falls_back_once(
    monkeypatch: pytest.MonkeyPatch, ca_file: str, server: Callable[..., OneShotServer]
) -> None:
    lib = _openssl.library()
    real = lib.get_options
    monkeypatch.setattr(lib, "get_options", lambda pointer: real(pointer) ^ 0x4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        capped = tls.context_for(Config(ca_bundle=ca_file, max_record_size=1024))
        tls.context_for(Config(ca_bundle=ca_file, max_record_size=2048))
    assert [w.category for w in caught] == [RuntimeWarning]
    assert "cannot set TLS record caps" in str(caught[0].message)
    state = tls.caps_state(capped)
    assert not state.applied
    assert "options differ" in state.detail
    assert state.max_send_fragment is None
    with server() as srv:
        info = connect(capped, srv.port)
    assert srv.error is None
    assert info.caps_applied is False
    assert info.max_send_fragment is None
    assert info.max_fragment_length is None


def test_stale_copy_fails_the_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pointer to something that merely *looks* right is caught by the round trip."""
    lib = _openssl.library()
    real = lib.get_options
    frozen: list[int] = []

    def stale(pointer: int) -> int:
        if not frozen:
            frozen.append(real(pointer))
        return frozen[0]

    monkeypatch.setattr(lib, "get_options", stale)
    with pytest.raises(_openssl.BridgeError, match="round trip failed"):
        _openssl.validate(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        (
            lambda m: m.setattr(_openssl, "SUPPORTED_PYTHON", ((3, 0), (3, 1))),
            "layout is not known",
        ),
        (lambda m: m.setattr(sys, "gettotalrefcount", lambda: 0, raising=False), "debug build"),
        (lambda m: m.setattr(ssl, "OPENSSL_VERSION_NUMBER", 0x30000000), "not the one ssl uses"),
        (lambda m: m.setattr(sys.implementation, "name", "pypy"), "not CPython"),
    ],
)
def test_structural_gates_refuse_before_any_call(
    monkeypatch: pytest.MonkeyPatch,
    patch: Callable[[pytest.MonkeyPatch], None],
    reason: str,
) -> None:
    patch(monkeypatch)
    with pytest.raises(_openssl.BridgeError, match=reason):
        _openssl.validate(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ctx = tls.context_for(Config(max_record_size=1024))
    assert not tls.caps_state(ctx).applied
    assert reason in tls.caps_state(ctx).detail
    assert [w.category for w in caught] == [RuntimeWarning]


def test_missing_symbol_and_wrong_object_are_refused() -> None:
    dll = ctypes.CDLL(getattr(_ssl, "__file__", None))
    with pytest.raises(_openssl.BridgeError, match="SSL_no_such_function"):
        _openssl._fn(dll, "SSL_no_such_function", ctypes.c_int)
    with pytest.raises(_openssl.BridgeError, match=r"not an _ssl\._SSLContext"):
        _openssl.validate(object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "suite", ["TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]
)
def test_tls13_suite_pin_is_negotiated(
    suite: str, ca_file: str, server: Callable[..., OneShotServer]
) -> None:
    ctx = tls.context_for(Config(ca_bundle=ca_file, tls13_ciphersuites=suite))
    assert tls.caps_state(ctx).tls13_suites_applied
    with server(min_version=V.TLSv1_3) as srv:
        info = connect(ctx, srv.port)
    assert srv.error is None
    assert info.tls_version == "1.3"
    assert info.cipher == suite


@pytest.mark.parametrize("version", [V.TLSv1_2, V.TLSv1_3])
@pytest.mark.parametrize(("size", "negotiated"), [(512, 512), (2048, 2048), (3000, None)])
def test_negotiated_max_fragment_length(
    version: V,
    size: int,
    negotiated: int | None,
    ca_file: str,
    server: Callable[..., OneShotServer],
) -> None:
    ctx = tls.context_for(Config(ca_bundle=ca_file, max_record_size=size))
    with server(min_version=version, max_version=version) as srv:
        info = connect(ctx, srv.port)
    assert srv.error is None
    assert info.caps_applied is True
    assert info.max_send_fragment == size
    assert info.max_fragment_length == negotiated


def test_plain_python_socket_reads_no_max_fragment_length(
    ca_file: str, server: Callable[..., OneShotServer]
) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    with server() as srv:
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
            assert _openssl.negotiated_max_fragment_length(sock) is None
            sock.sendall(b"hello")
    assert _openssl.negotiated_max_fragment_length(object()) is None  # type: ignore[arg-type]
