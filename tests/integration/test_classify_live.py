"""soapguard.classify on genuine failures: real sockets on 127.0.0.1, real TLS (trustme), requests.

Each test provokes one failure with plain ``requests`` (no soapguard client)
and classifies the exception requests really raised.  Servers accept exactly
one connection, run their handler in a thread and are joined at teardown;
nothing waits on a clock except the two timeout tests, which use the
client's own timeouts.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import trustme
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from soapguard.classify import classify
from soapguard.classify._util import walk as chain
from soapguard.transport.evidence import Attempt, ConnInfo, RecordStats

Handler = Callable[[socket.socket, threading.Event], None]
TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3


@contextlib.contextmanager
def serve(handler: Handler) -> Iterator[int]:
    """Accept one connection on 127.0.0.1 and run ``handler(conn, release)``; yield the port.

    ``release`` is set at teardown so a handler that holds its peer waiting can
    finish; if no client ever connected, teardown connects once to wake accept().
    """
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    release = threading.Event()

    def run() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):  # ssl.SSLError is an OSError
            handler(conn, release)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        release.set()
        if thread.is_alive():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                pass
        thread.join(10)
        listener.close()


def tls_server(ctx: ssl.SSLContext, then: Handler) -> Handler:
    def handler(conn: socket.socket, release: threading.Event) -> None:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            then(tls, release)

    return handler


def read_request(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk


def hold(sock: socket.socket, release: threading.Event) -> None:
    read_request(sock)
    release.wait(10)


def truncated_response(sock: socket.socket, release: threading.Event) -> None:
    """Promise 1000 bytes, send 3, close without close_notify."""
    read_request(sock)
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc")


def answer(sock: socket.socket, release: threading.Event) -> None:
    read_request(sock)
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


@pytest.fixture
def server_ctx(ca: trustme.CA) -> Callable[..., ssl.SSLContext]:
    def make(host: str = "localhost", **settings: Any) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(host, key_type=trustme.KeyType.RSA).configure_cert(ctx)
        for name, value in settings.items():
            ctx.set_ciphers(value) if name == "ciphers" else setattr(ctx, name, value)
        return ctx

    return make


class ContextAdapter(HTTPAdapter):
    """An adapter that hands urllib3 our own client SSLContext."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, ssl_context=self.ctx, **kwargs)


def fail(url: str, ca_file: str, ctx: ssl.SSLContext | None = None, **kw: Any) -> BaseException:
    with requests.Session() as session:
        if ctx is not None:
            session.mount("https://", ContextAdapter(ctx))
        with pytest.raises(requests.RequestException) as info:
            session.post(url, data=b"<Envelope/>", verify=ca_file, timeout=kw.pop("timeout", 5))
    return info.value


def client_ctx(ca_file: str, **settings: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    for name, value in settings.items():
        setattr(ctx, name, value)
    return ctx


# -- connection ---------------------------------------------------------------------------------


def test_connection_refused(ca_file: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    failure = classify(fail(f"https://127.0.0.1:{port}/svc", ca_file))
    assert (failure.type, failure.phase, failure.request_sent) == (
        "connection.refused",
        "connect",
        "none",
    )
    assert "Connection refused" in failure.message


def test_dns_failure_for_an_invalid_name(ca_file: str) -> None:
    failure = classify(fail("https://soapguard-test.invalid/svc", ca_file))
    assert (failure.type, failure.phase, failure.request_sent) == (
        "connection.dns",
        "connect",
        "none",
    )
    assert "soapguard-test.invalid" in failure.message


def read_client_hello_then_close(conn: socket.socket, release: threading.Event) -> None:
    header = conn.recv(5, socket.MSG_WAITALL)
    conn.recv(int.from_bytes(header[3:5], "big"), socket.MSG_WAITALL)


def reset_at_once(conn: socket.socket, release: threading.Event) -> None:
    """Close with SO_LINGER 0: the kernel answers with an RST."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_tls_to_a_plain_tcp_server_that_closes(ca_file: str) -> None:
    with serve(read_client_hello_then_close) as port:
        failure = classify(fail(f"https://127.0.0.1:{port}/svc", ca_file))
    assert (failure.type, failure.origin) == ("tls.unexpected_eof", None)
    assert failure.reason == "UNEXPECTED_EOF_WHILE_READING"
    assert failure.request_sent == "full"  # unknown without progress: never claim "none"


def test_tls_to_a_plain_tcp_server_that_resets(ca_file: str) -> None:
    with serve(reset_at_once) as port:
        exc = fail(f"https://127.0.0.1:{port}/svc", ca_file)
    failure = classify(exc)
    assert (failure.type, failure.origin) == ("connection.reset", None)
    # the RST may land while urllib3 is still setting up the socket (NewConnectionError,
    # certainly nothing sent) or once the handshake has begun (unknown, so "full")
    while_connecting = any(isinstance(e, NewConnectionError) for e in chain(exc))
    assert failure.request_sent == ("none" if while_connecting else "full")


# -- TLS handshake --------------------------------------------------------------------------------


def test_certificate_for_another_host(server_ctx, ca_file: str) -> None:
    with serve(tls_server(server_ctx("other.example"), hold)) as port:
        failure = classify(fail(f"https://localhost:{port}/svc", ca_file))
    assert (failure.type, failure.origin) == ("tls.certificate", "local")
    assert (failure.phase, failure.request_sent) == ("handshake", "none")
    assert (failure.library, failure.reason) == ("SSL", "CERTIFICATE_VERIFY_FAILED")
    assert "Hostname mismatch" in failure.message


def test_tls12_only_server_and_a_tls13_only_client(server_ctx, ca_file: str) -> None:
    ctx = client_ctx(ca_file, minimum_version=TLS13)
    with serve(tls_server(server_ctx(maximum_version=TLS12), hold)) as port:
        failure = classify(fail(f"https://localhost:{port}/svc", ca_file, ctx))
    assert (failure.type, failure.origin) == ("tls.protocol_version", "peer")
    assert (failure.phase, failure.request_sent) == ("handshake", "none")
    assert failure.reason == "TLSV1_ALERT_PROTOCOL_VERSION"


def traced(ctx: ssl.SSLContext) -> tuple[ssl.SSLContext, Attempt]:
    """Count the TLS records the server sends, as soapguard's record tracer does."""
    stats = RecordStats()
    progress = Attempt(phase="handshake", conn=ConnInfo("localhost", 0, records=stats))

    def callback(conn: Any, direction: str, version: Any, kind: Any, msg: Any, data: bytes) -> None:
        if direction == "read" and kind == ssl._TLSContentType.HEADER:  # type: ignore[attr-defined]
            stats.record_in(int.from_bytes(data[3:5], "big"))

    ctx._msg_callback = callback  # type: ignore[attr-defined]
    return ctx, progress


NO_SHARED_CIPHER = {"maximum_version": TLS12, "ciphers": "AES256-SHA"}  # static RSA only
CLIENT_CERT_REQUIRED = {"maximum_version": TLS12, "verify_mode": ssl.CERT_REQUIRED}


def test_cipher_mismatch_is_a_peer_handshake_failure(server_ctx, ca_file: str) -> None:
    with serve(tls_server(server_ctx(**NO_SHARED_CIPHER), hold)) as port:
        failure = classify(fail(f"https://localhost:{port}/svc", ca_file))
    assert (failure.type, failure.origin) == ("tls.handshake_failure", "peer")
    assert (failure.reason, failure.request_sent) == ("SSLV3_ALERT_HANDSHAKE_FAILURE", "none")


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        # the alert is the server's only answer to our ClientHello: nothing we offered fits
        (NO_SHARED_CIPHER, "tls.no_shared_cipher"),
        # ServerHello, Certificate, CertificateRequest... then the same alert: not ciphers
        (CLIENT_CERT_REQUIRED, "tls.handshake_failure"),
    ],
)
def test_traced_records_tell_a_refused_hello_from_a_failed_handshake(
    settings, expected, server_ctx, ca_file: str
) -> None:
    ctx, progress = traced(client_ctx(ca_file))
    with serve(tls_server(server_ctx(**settings), hold)) as port:
        exc = fail(f"https://localhost:{port}/svc", ca_file, ctx)
    failure = classify(exc, progress)
    assert failure.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"
    assert (failure.type, failure.origin, failure.request_sent) == (expected, "peer", "none")


# -- timeouts -------------------------------------------------------------------------------------


def test_read_timeout(server_ctx, ca_file: str) -> None:
    with serve(tls_server(server_ctx(), hold)) as port:
        exc = fail(f"https://localhost:{port}/svc", ca_file, timeout=(1, 0.3))
    assert isinstance(exc, requests.exceptions.ReadTimeout)
    failure = classify(exc)
    assert (failure.type, failure.request_sent) == ("timeout.read", "full")


def test_stalled_handshake_is_a_connect_timeout_although_urllib3_says_read(ca_file: str) -> None:
    with serve(hold) as port:  # plain TCP: reads the ClientHello, never answers
        exc = fail(f"https://localhost:{port}/svc", ca_file, timeout=(0.3, 5))
    assert isinstance(exc, requests.exceptions.ReadTimeout)
    failure = classify(exc)
    assert (failure.type, failure.phase, failure.request_sent) == (
        "timeout.connect",
        "handshake",
        "none",
    )


# -- damaged records and truncated bodies ---------------------------------------------------------


def pump(src: socket.socket, dst: socket.socket, damage: bool) -> None:
    """Copy ``src`` to ``dst``; with ``damage``, flip one bit of the first application record."""
    pending = b""
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            if not damage:
                dst.sendall(data)
                continue
            pending += data
            out = b""
            while len(pending) >= 5 and len(pending) >= 5 + int.from_bytes(pending[3:5], "big"):
                size = 5 + int.from_bytes(pending[3:5], "big")
                record, pending = bytearray(pending[:size]), pending[size:]
                if damage and record[0] == 23:  # application_data
                    record[-1] ^= 0x01  # inside the AEAD tag
                    damage = False
                out += record
            dst.sendall(out + (b"" if damage else pending))
            pending = pending if damage else b""
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def proxy_to(backend: int, damage_request: bool) -> Handler:
    """A TCP relay to ``backend`` that damages our request or the server's response."""

    def handler(conn: socket.socket, release: threading.Event) -> None:
        with socket.create_connection(("127.0.0.1", backend)) as upstream:
            up = threading.Thread(target=pump, args=(conn, upstream, damage_request))
            up.start()
            pump(upstream, conn, not damage_request)
            up.join(10)

    return handler


@pytest.mark.parametrize(
    ("damage_request", "origin", "reason"),
    [
        (False, "local", "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"),  # we rejected their record
        (True, "peer", "SSLV3_ALERT_BAD_RECORD_MAC"),  # they rejected ours and said so
    ],
)
def test_bad_record_mac(damage_request, origin, reason, server_ctx, ca_file: str) -> None:
    backend_ctx = server_ctx(maximum_version=TLS12)  # only real data travels as type 23
    with (
        serve(tls_server(backend_ctx, answer)) as backend,
        serve(proxy_to(backend, damage_request)) as port,
    ):
        exc = fail(f"https://localhost:{port}/svc", ca_file)
    assert isinstance(exc, requests.exceptions.SSLError)
    failure = classify(exc)
    assert (failure.type, failure.origin, failure.reason) == ("tls.bad_record_mac", origin, reason)
    assert failure.request_sent == "full"  # after the handshake: unknown, so not "none"


@pytest.mark.parametrize(
    ("tls", "expected"), [(True, "tls.unexpected_eof"), (False, "connection.reset")]
)
def test_body_cut_short(tls, expected, server_ctx, ca_file: str) -> None:
    handler = tls_server(server_ctx(), truncated_response) if tls else truncated_response
    scheme = "https" if tls else "http"
    with serve(handler) as port, requests.Session() as session:
        response = session.post(
            f"{scheme}://localhost:{port}/svc", verify=ca_file, stream=True, timeout=5
        )
        # what soapguard's connection records once the response has started
        sock = response.raw.connection.sock
        info = ConnInfo("localhost", port, tls_version=sock.version() if tls else None)
        progress = Attempt(phase="receive", conn=info, request_complete=True, response_started=True)
        with pytest.raises(requests.exceptions.ChunkedEncodingError) as raised:
            _ = response.content
    failure = classify(raised.value, progress)
    assert (failure.type, failure.origin, failure.phase) == (expected, None, "receive")
    assert "IncompleteRead" in failure.message
