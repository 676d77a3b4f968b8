"""Record caps and the record tracer, checked on the wire by an independent observer."""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable, Iterator

import pytest

from servers.oneshot import OneShotServer
from soapguard.config import Config
from soapguard.testing import ConnectionRecord, FaultProxy
from soapguard.tls import context as tls
from soapguard.tls import trace as _trace
from soapguard.transport.evidence import Attempt, ConnInfo, sending

V = ssl.TLSVersion
PAYLOAD = 100_000
#: record length = plaintext + AEAD tag, explicit nonce (1.2) or inner type (1.3)
OVERHEAD = 64
ALERT_PROTOCOL_VERSION, ALERT_UNKNOWN_CA, FATAL = 70, 48, 2


def recv_exactly(sock: ssl.SSLSocket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(min(size, 65536))
        if not chunk:
            raise ConnectionError("peer closed early")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def echo_payload(conn: ssl.SSLSocket) -> None:
    """Read PAYLOAD bytes, send them back, wait for the client's EOF."""
    conn.sendall(recv_exactly(conn, PAYLOAD))
    conn.recv(1)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    tls.clear_cache()
    yield
    tls.clear_cache()


def exchange(
    ctx: ssl.SSLContext, port: int, proxy: FaultProxy | None = None
) -> tuple[ConnInfo, ConnectionRecord | None]:
    """Send PAYLOAD random bytes, check the echo, return the connection's TLS facts.

    With ``proxy``, also return what it saw, snapshotted before we close: the
    server may answer our close, and that record is none of the exchange.
    """
    data = os.urandom(PAYLOAD)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
        sock.sendall(data)
        assert recv_exactly(sock, PAYLOAD) == data
        info = ConnInfo("localhost", port)
        tls.describe_connection(sock, info)
        if proxy is not None:
            (record,) = proxy.stats().connection_records
            return info, record
    return info, None


@pytest.mark.parametrize("version", [V.TLSv1_2, V.TLSv1_3], ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize("cap", [1024, 3000, None], ids=["mfl", "send-only", "uncapped"])
def test_record_sizes_both_directions(
    version: V, cap: int | None, ca_file: str, server_ssl_context: Callable[..., ssl.SSLContext]
) -> None:
    """1024 caps both directions (max send fragment + max_fragment_length); 3000 is not
    an RFC 6066 size, so it caps only what we send; no cap gives full 16 KB records."""
    ctx = tls.context_for(Config(ca_bundle=ca_file, max_record_size=cap))
    server_ctx = server_ssl_context(min_version=version, max_version=version)
    with (
        OneShotServer(server_ctx, echo_payload) as server,
        FaultProxy(("127.0.0.1", server.port)) as proxy,
    ):
        info, conn = exchange(ctx, proxy.port, proxy)
    assert server.error is None
    assert conn is not None
    c2s, s2c = conn.app_data_sizes("c2s"), conn.app_data_sizes("s2c")
    assert sum(c2s) >= PAYLOAD
    assert sum(s2c) >= PAYLOAD
    assert info.tls_version == ("1.2" if version is V.TLSv1_2 else "1.3")
    assert info.max_send_fragment == cap
    if cap is None:
        assert max(c2s) > 16000
    else:
        assert cap - OVERHEAD < max(c2s) <= cap + OVERHEAD
    if cap in (None, 3000):
        assert max(s2c) > 16000
        assert info.max_fragment_length is None
        return
    assert max(s2c) <= cap + OVERHEAD
    # not just application data: the server's handshake flight obeys the agreed size too
    assert max(length for _, length in conn.records_s2c) <= cap + OVERHEAD
    assert info.max_fragment_length == cap


@pytest.mark.parametrize("version", [V.TLSv1_2, V.TLSv1_3], ids=["tls1.2", "tls1.3"])
def test_tracer_agrees_with_the_proxy(
    version: V, ca_file: str, server_ssl_context: Callable[..., ssl.SSLContext]
) -> None:
    ctx = tls.context_for(Config(ca_bundle=ca_file, max_record_size=2048))
    server_ctx = server_ssl_context(min_version=version, max_version=version)
    with (
        OneShotServer(server_ctx, echo_payload) as server,
        FaultProxy(("127.0.0.1", server.port)) as proxy,
    ):
        info, conn = exchange(ctx, proxy.port, proxy)
    assert conn is not None
    records = info.records
    assert records is not None
    assert records.records_out == conn.record_count_c2s
    assert records.records_in == conn.record_count_s2c
    assert records.largest_record_in == max(length for _, length in conn.records_s2c)
    assert records.largest_record_out == max(length for _, length in conn.records_c2s)
    assert records.bytes_in == sum(length for _, length in conn.records_s2c)
    assert list(records.recent_in) == [length for _, length in conn.records_s2c][-8:]
    assert records.alert_in is None
    assert records.alert_out is None


def test_tracing_off_leaves_records_unobserved(
    ca_file: str, server_ssl_context: Callable[..., ssl.SSLContext]
) -> None:
    ctx = tls.context_for(Config(ca_bundle=ca_file, trace_records=False))
    with OneShotServer(server_ssl_context(), echo_payload) as server:
        info, _ = exchange(ctx, server.port)
    assert info.records is None


def _failed_handshake(ctx: ssl.SSLContext, port: int) -> ConnInfo:
    """Handshake that must fail, inside an attempt, as the adapter would run it."""
    with sending(Attempt()) as attempt:
        attempt.conn = info = ConnInfo("localhost", port)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")
        raw.close()
    return info


def test_alert_we_send_is_linked_to_the_attempt(
    server_ssl_context: Callable[..., ssl.SSLContext],
) -> None:
    ctx = tls.context_for(Config())  # the system store does not trust the test CA
    with OneShotServer(server_ssl_context(), echo_payload) as server:
        info = _failed_handshake(ctx, server.port)
    assert info.records is not None
    assert info.records.alert_out == (FATAL, ALERT_UNKNOWN_CA)
    assert info.records.records_in > 0


def test_peer_alert_is_linked_to_the_attempt(
    ca_file: str, server_ssl_context: Callable[..., ssl.SSLContext]
) -> None:
    ctx = tls.context_for(Config(ca_bundle=ca_file, tls_profile="modern"))
    with OneShotServer(server_ssl_context(max_version=V.TLSv1_2), echo_payload) as server:
        info = _failed_handshake(ctx, server.port)
    assert info.records is not None
    assert info.records.alert_in == (FATAL, ALERT_PROTOCOL_VERSION)
    assert info.records.records_out == 1  # our ClientHello, then the server's alert


def test_tracer_never_raises() -> None:
    """Garbage from OpenSSL or an owner without __dict__ must not break the SSL call."""
    _trace._callback(object(), "read", 0, 0x100, 0, b"\x17\x03\x03\x40\x00")
    _trace._callback(None, "read", 0, 21, 0, b"\x02")
    assert _trace.stats_for(object()) is None
    assert _trace.available()
