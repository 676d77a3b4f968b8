"""FaultProxy against a real TLS HTTP/1.1 keep-alive server on 127.0.0.1.

Certificates come from trustme; clients are plain ``http.client`` with an
explicit CA, pinned to TLS 1.2 or TLS 1.3.  Every fault is checked by the
symptom the client (and, where it matters, the server) actually sees.
"""

from __future__ import annotations

import contextlib
import http.client
import queue
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme

from soapguard.testing import Fault, FaultProxy

BAD_MAC = "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"
VERSIONS = [
    pytest.param(ssl.TLSVersion.TLSv1_2, id="tls12"),
    pytest.param(ssl.TLSVersion.TLSv1_3, id="tls13"),
]
#: body record length for 16384 plaintext bytes: AES-GCM in TLS 1.3 / TLS 1.2
FULL_RECORD = {ssl.TLSVersion.TLSv1_3: 16401, ssl.TLSVersion.TLSv1_2: 16408}
NAMES = {ssl.TLSVersion.TLSv1_3: "TLSv1.3", ssl.TLSVersion.TLSv1_2: "TLSv1.2"}

pytestmark = pytest.mark.timeout(60)


class _Handler(BaseHTTPRequestHandler):
    """GET/POST ``/?size=N``: answers N bytes of ``x`` after noting the request."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._reply(0)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._reply(len(body))

    def _reply(self, body_len: int) -> None:
        size = int(parse_qs(urlsplit(self.path).query).get("size", ["64"])[0])
        self.server.received.put((self.command, self.path, body_len))
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.write(b"x" * size)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self.context = context
        self.received: queue.Queue[tuple[str, str, int]] = queue.Queue()
        self.errors: queue.Queue[BaseException] = queue.Queue()
        self.accepted = 0
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.accepted += 1  # runs in the serving thread
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        if self.context is None:
            super().finish_request(request, client_address)
            return
        with self.context.wrap_socket(request, server_side=True) as tls:
            _Handler(tls, client_address, self)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server_address[:2]
        return str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if exc is not None:
            self.errors.put(exc)

    def wait_error(self, reason: str) -> ssl.SSLError:
        while True:  # queue.Empty after 10 s fails the test
            exc = self.errors.get(timeout=10)
            if isinstance(exc, ssl.SSLError) and exc.reason == reason:
                return exc


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def make_server(ca: trustme.CA) -> Iterator[Callable[..., _Server]]:
    started: list[tuple[_Server, threading.Thread]] = []
    cert = ca.issue_cert("127.0.0.1")

    def make(tls: bool = True, num_tickets: int | None = None, curve: str | None = None) -> _Server:
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert.configure_cert(context)
            if num_tickets is not None:
                context.num_tickets = num_tickets
            if curve is not None:
                context.set_ecdh_curve(curve)
        server = _Server(context)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield make
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., FaultProxy]]:
    proxies: list[FaultProxy] = []

    def make(server: _Server | tuple[str, int], **kwargs: Any) -> FaultProxy:
        upstream = server if isinstance(server, tuple) else server.address
        proxy = FaultProxy(upstream=upstream, **kwargs).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()
        assert proxy.join(10)


def _context(ca: trustme.CA, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    context.minimum_version = context.maximum_version = version
    return context


_clients: list[http.client.HTTPConnection] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def _https(proxy: FaultProxy, context: ssl.SSLContext, timeout: float = 10) -> Any:
    """A client connection to the proxy, closed at the end of the test."""
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=context, timeout=timeout)
    _clients.append(conn)
    return conn


def _get(conn: http.client.HTTPConnection, size: int) -> bytes:
    conn.request("GET", f"/?size={size}")
    response = conn.getresponse()
    assert response.status == 200
    return response.read()


@pytest.mark.parametrize("version", VERSIONS)
def test_keep_alive_requests_are_counted_per_connection(
    ca: trustme.CA, make_server: Any, make_proxy: Any, version: ssl.TLSVersion
) -> None:
    server = make_server()
    proxy = make_proxy(server)
    context = _context(ca, version)
    first = _https(proxy, context)
    assert _get(first, 10) == b"x" * 10
    first.request("POST", "/?size=20", body=b"b" * 40_000)  # a request of several records
    response = first.getresponse()
    assert response.read() == b"x" * 20
    assert _get(first, 30) == b"x" * 30
    second = _https(proxy, context)
    assert _get(second, 40) == b"x" * 40

    stats = proxy.stats()
    assert (stats.connections, stats.requests, stats.fired) == (2, 4, ())
    one, two = stats.connection_records
    assert (one.requests, two.requests) == (3, 1)
    assert one.tls_version == two.tls_version == NAMES[version]
    assert len(one.app_c2s) >= 1 + 3 + 1  # the POST body alone needs three records
    assert len(one.app_s2c) == 6  # headers and body, one record each, per request
    assert one.session_tickets == (2 if version == ssl.TLSVersion.TLSv1_3 else 0)
    assert server.received.qsize() == 4
    first.close()
    second.close()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("num_tickets", [0, 2])
def test_app_data_sizes_show_full_size_records(
    ca: trustme.CA,
    make_server: Any,
    make_proxy: Any,
    version: ssl.TLSVersion,
    num_tickets: int,
) -> None:
    proxy = make_proxy(make_server(num_tickets=num_tickets))
    context = _context(ca, version)
    for _ in range(2):  # the second connection uses the learned ticket count
        conn = _https(proxy, context)
        assert _get(conn, 100_000) == b"x" * 100_000
        conn.close()

    stats = proxy.stats()
    full = FULL_RECORD[version]
    for record in stats.connection_records:
        body = record.app_s2c[1:]  # after the header record
        assert body[:-1] == (full,) * 6
        assert body[-1] == 100_000 - 6 * 16384 + (full - 16384)
        assert len(record.app_c2s) == 1
        tickets = num_tickets if version == ssl.TLSVersion.TLSv1_3 else 0
        assert record.session_tickets == tickets
    assert stats.largest_record("s2c") == full
    assert stats.app_data_sizes("s2c").count(full) == 12
    assert max(stats.app_data_sizes("c2s")) < 1024


def test_hello_retry_request_and_a_known_ticket_count(
    ca: trustme.CA, make_server: Any, make_proxy: Any
) -> None:
    # the server only accepts secp384r1, so the client's first key share is refused
    proxy = make_proxy(make_server(curve="secp384r1"), tls13_tickets=2)
    conn = _https(proxy, _context(ca, ssl.TLSVersion.TLSv1_3))
    assert _get(conn, 20_000) == b"x" * 20_000
    assert _get(conn, 10) == b"x" * 10
    (record,) = proxy.stats().connection_records
    # HelloRetryRequest, middlebox-compatibility change_cipher_spec, ServerHello
    assert [ctype for ctype, _ in record.records_s2c[:3]] == [22, 20, 22]
    assert (record.tls_version, record.requests, record.session_tickets) == ("TLSv1.3", 2, 2)
    assert len(record.app_s2c) == 3 + 2
    assert len(record.app_c2s) == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_flip_response_record_gives_local_bad_record_mac(
    ca: trustme.CA, make_server: Any, make_proxy: Any, version: ssl.TLSVersion
) -> None:
    proxy = make_proxy(make_server())
    context = _context(ca, version)
    proxy.add_fault(Fault.flip_response_record(2))
    conn = _https(proxy, context)
    conn.request("GET", "/?size=100000")
    response = conn.getresponse()  # record 1 (the headers) is intact
    assert response.status == 200
    with pytest.raises(ssl.SSLError) as info:
        response.read()
    assert info.value.reason == BAD_MAC
    (fired,) = proxy.stats().fired
    assert (fired.kind, fired.spec, fired.connection, fired.request) == (
        "flip-response-record",
        "flip-response-record:2",
        1,
        1,
    )
    conn.close()
    retry = _https(proxy, context)
    assert _get(retry, 100_000) == b"x" * 100_000  # the fault fired only once
    assert proxy.stats().requests == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_flip_request_record_makes_the_server_reject_it(
    ca: trustme.CA, make_server: Any, make_proxy: Any, version: ssl.TLSVersion
) -> None:
    server = make_server()
    proxy = make_proxy(server)
    conn = _https(proxy, _context(ca, version))
    assert _get(conn, 5) == b"x" * 5
    proxy.add_fault(Fault.flip_request_record())
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
        _get(conn, 5)
    server.wait_error(BAD_MAC)
    assert server.received.qsize() == 1  # only the first request got through
    (fired,) = proxy.stats().fired
    assert (fired.kind, fired.request) == ("flip-request-record", 2)
    conn.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_corrupt_handshake_fails_the_handshake(
    ca: trustme.CA, make_server: Any, make_proxy: Any, version: ssl.TLSVersion
) -> None:
    proxy = make_proxy(make_server())
    context = _context(ca, version)
    proxy.add_fault(Fault.corrupt_handshake())
    conn = _https(proxy, context)
    with pytest.raises(ssl.SSLError) as info:
        conn.connect()
    assert info.value.reason == BAD_MAC
    stats = proxy.stats()
    (fired,) = stats.fired
    assert (fired.kind, fired.request) == ("corrupt-handshake", None)
    assert stats.requests == 0
    assert _get(_https(proxy, context), 7) == b"x" * 7


def test_rst_on_accept_resets_without_contacting_upstream(
    ca: trustme.CA, make_server: Any, make_proxy: Any
) -> None:
    server = make_server()
    proxy = make_proxy(server)
    proxy.add_fault(Fault.rst_on_accept())
    conn = _https(proxy, _context(ca, ssl.TLSVersion.TLSv1_3))
    with pytest.raises(ConnectionError):
        conn.connect()
    assert server.accepted == 0
    stats = proxy.stats()
    assert stats.connections == 1
    assert [f.kind for f in stats.fired] == ["rst-on-accept"]


@pytest.mark.parametrize("version", VERSIONS)
def test_rst_after_request_resets_after_the_server_got_it(
    ca: trustme.CA, make_server: Any, make_proxy: Any, version: ssl.TLSVersion
) -> None:
    server = make_server()
    proxy = make_proxy(server)
    proxy.add_fault(Fault.rst_after_request())
    conn = _https(proxy, _context(ca, version))
    with pytest.raises(ConnectionResetError):
        _get(conn, 50)
    assert server.received.get(timeout=10) == ("GET", "/?size=50", 0)
    (fired,) = proxy.stats().fired
    assert (fired.kind, fired.request) == ("rst-after-request", 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_close_mid_body_truncates_the_response(
    ca: trustme.CA, make_server: Any, make_proxy: Any, version: ssl.TLSVersion
) -> None:
    proxy = make_proxy(make_server())
    proxy.add_fault(Fault.close_mid_body(after=20_000))
    conn = _https(proxy, _context(ca, version))
    conn.request("GET", "/?size=100000")
    response = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as info:
        response.read()
    # whole records are forwarded: headers + two full body records reach 20 000 bytes
    assert len(info.value.partial) == 2 * 16384
    (fired,) = proxy.stats().fired
    assert fired.kind == "close-mid-body"
    assert "3 records" in fired.detail


@pytest.mark.parametrize("version", VERSIONS)
def test_stall_longer_than_the_client_timeout(
    ca: trustme.CA, make_server: Any, make_proxy: Any, version: ssl.TLSVersion
) -> None:
    proxy = make_proxy(make_server())
    proxy.add_fault(Fault.stall(seconds=120))
    conn = _https(proxy, _context(ca, version), timeout=0.5)
    with pytest.raises(TimeoutError):
        _get(conn, 10)
    assert [f.kind for f in proxy.stats().fired] == ["stall"]
    conn.close()
    proxy.stop()  # must not wait for the stall to end
    assert proxy.join(10)
    assert proxy.stats().active == 0


def test_short_stall_then_the_response_arrives(
    ca: trustme.CA, make_server: Any, make_proxy: Any
) -> None:
    proxy = make_proxy(make_server())
    proxy.add_fault(Fault.stall(seconds=0.2))
    conn = _https(proxy, _context(ca, ssl.TLSVersion.TLSv1_3))
    assert _get(conn, 30_000) == b"x" * 30_000
    assert _get(conn, 10) == b"x" * 10
    assert [(f.kind, f.request) for f in proxy.stats().fired] == [("stall", 1)]


def test_unmet_fault_is_reported_as_missed(
    ca: trustme.CA, make_server: Any, make_proxy: Any
) -> None:
    proxy = make_proxy(make_server())
    proxy.add_fault(Fault.flip_response_record(50))
    conn = _https(proxy, _context(ca, ssl.TLSVersion.TLSv1_2))
    assert _get(conn, 100) == b"x" * 100  # two records: never reaches record 50
    assert _get(conn, 100) == b"x" * 100  # request 2 starts: request 1's fault is over
    stats = proxy.stats()
    assert stats.fired == ()
    (missed,) = stats.missed
    assert (missed.spec, missed.request) == ("flip-response-record:50", 1)


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("flip-response-record:3", Fault.flip_response_record(3)),
        ("flip-request-record", Fault.flip_request_record()),
        ("corrupt-handshake", Fault.corrupt_handshake()),
        ("rst-on-accept", Fault.rst_on_accept()),
        ("rst-after-request", Fault.rst_after_request()),
        ("close-mid-body:4096", Fault.close_mid_body(after=4096)),
        ("stall:2", Fault.stall(seconds=2)),
        ("stall:0.25", Fault.stall(seconds=0.25)),
    ],
)
def test_fault_spec_round_trip(spec: str, fault: Fault) -> None:
    assert Fault.parse(spec) == fault
    assert str(fault) == spec
    assert Fault.parse(str(fault)) == fault


def test_fault_spec_lenient_forms() -> None:
    assert Fault.parse(" FLIP_RESPONSE_RECORD ") == Fault.flip_response_record(1)
    assert Fault.parse("stall:1.5").seconds == 1.5


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "explode",
        "flip-response-record:0",
        "flip-response-record:x",
        "flip-response-record:1.5",
        "rst-on-accept:1",
        "close-mid-body",
        "close-mid-body:-1",
        "stall",
        "stall:0",
        "stall:nan",
        "stall:99999",
    ],
)
def test_bad_fault_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError, match=r"fault|flip|close|stall|argument"):
        Fault.parse(spec)


def test_bad_fault_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="n must be"):
        Fault.flip_response_record(0)
    with pytest.raises(ValueError, match="takes no parameter"):
        Fault("stall", n=1, seconds=1.0)
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("nope")


def test_proxy_stops_by_itself_when_lifetime_expires(
    ca: trustme.CA, make_server: Any, make_proxy: Any
) -> None:
    proxy = make_proxy(make_server(), lifetime=0.5)
    conn = _https(proxy, _context(ca, ssl.TLSVersion.TLSv1_3))
    assert _get(conn, 10) == b"x" * 10
    assert proxy.join(30)  # returns when the lifetime has expired
    assert not proxy.running
    with pytest.raises((ConnectionError, http.client.HTTPException, ssl.SSLError)):
        _get(conn, 10)  # the live connection was closed too
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=5)
    assert proxy.stats().active == 0


def _random_run(ca: trustme.CA, server: _Server, seed: int) -> list[tuple[str, int, Any]]:
    kinds = [Fault.flip_response_record(), Fault.rst_after_request(), Fault.rst_on_accept()]
    with FaultProxy(upstream=server.address) as proxy:
        proxy.set_random_faults(0.5, kinds, seed=seed)
        context = _context(ca, ssl.TLSVersion.TLSv1_3)
        for _ in range(12):
            conn = _https(proxy, context)
            with contextlib.suppress(OSError, http.client.HTTPException):
                _get(conn, 5000)
            conn.close()
        return [(f.kind, f.connection, f.request) for f in proxy.stats().fired]


def test_random_faults_are_reproducible_with_a_seed(ca: trustme.CA, make_server: Any) -> None:
    server = make_server()
    first = _random_run(ca, server, seed=1234)
    assert first == _random_run(ca, server, seed=1234)
    assert 0 < len(first) < 24
    assert {kind for kind, _, _ in first} == {
        "flip-response-record",
        "rst-after-request",
        "rst-on-accept",
    }


def test_faults_added_while_traffic_flows_fire_exactly_once(
    ca: trustme.CA, make_server: Any, make_proxy: Any
) -> None:
    proxy = make_proxy(make_server())
    context = _context(ca, ssl.TLSVersion.TLSv1_3)
    failures: queue.Queue[BaseException] = queue.Queue()
    started = threading.Barrier(5)

    def client() -> None:
        conn = _https(proxy, context)
        started.wait()
        for _ in range(8):
            try:
                assert _get(conn, 2000) == b"x" * 2000
            except ConnectionResetError as exc:
                failures.put(exc)
                conn.close()
                conn = _https(proxy, context)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    for _ in range(5):
        proxy.add_fault(Fault.rst_after_request())
    for thread in threads:
        thread.join()
    stats = proxy.stats()
    assert failures.qsize() == len(stats.fired)
    assert len(stats.fired) + len(proxy.pending_faults()) == 5
    assert stats.requests == 32


def test_plain_tcp_upstream_is_forwarded_and_only_tcp_faults_apply(
    make_server: Any, make_proxy: Any
) -> None:
    server = make_server(tls=False)
    proxy = make_proxy(server)
    proxy.add_fault(Fault.flip_response_record())
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    _clients.append(conn)
    assert _get(conn, 3000) == b"x" * 3000
    assert proxy.pending_faults() == (Fault.flip_response_record(),)  # needs TLS: kept
    proxy.clear_faults()
    proxy.add_fault(Fault.rst_after_request())
    with pytest.raises(ConnectionResetError):
        _get(conn, 10)
    stats = proxy.stats()
    assert [(f.kind, f.request) for f in stats.fired] == [("rst-after-request", 2)]
    assert stats.connection_records[0].mode == "plain"
    assert stats.requests == 2
    assert server.received.qsize() == 2


def test_stream_that_stops_being_tls_is_passed_through(make_proxy: Any) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    echoed = bytearray()

    def echo() -> None:
        sock, _ = listener.accept()
        with sock:
            while chunk := sock.recv(65536):
                echoed.extend(chunk)
                sock.sendall(chunk)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    proxy = make_proxy(listener.getsockname()[:2])
    payload = b"\x16\x03\x01\x00\x03abc" + b"\x00not a record" * 100
    with socket.create_connection(proxy.address, timeout=10) as client:
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := client.recv(65536):
            received.extend(chunk)
    thread.join(10)
    listener.close()
    assert bytes(received) == bytes(echoed) == payload
    assert proxy.stats().connection_records[0].mode == "tls"


def test_connection_cap_rejects_extra_connections(
    ca: trustme.CA, make_server: Any, make_proxy: Any
) -> None:
    proxy = make_proxy(make_server(), max_connections=1)
    context = _context(ca, ssl.TLSVersion.TLSv1_2)
    assert _get(_https(proxy, context), 10) == b"x" * 10
    with pytest.raises(ConnectionError):
        _https(proxy, context).connect()
    stats = proxy.stats()
    assert (stats.connections, stats.rejected) == (1, 1)


def test_unreachable_upstream_resets_the_client(ca: trustme.CA, make_proxy: Any) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]  # nothing listens there once closed
    proxy = make_proxy(("127.0.0.1", port))
    with pytest.raises(ConnectionError):
        _https(proxy, _context(ca, ssl.TLSVersion.TLSv1_3)).connect()
    (record,) = proxy.stats().connection_records
    assert record.error is not None
    assert record.error.startswith("upstream connect failed")


def test_stop_closes_live_connections(ca: trustme.CA, make_server: Any) -> None:
    proxy = FaultProxy(upstream=make_server().address).start()
    conn = _https(proxy, _context(ca, ssl.TLSVersion.TLSv1_3))
    assert _get(conn, 10) == b"x" * 10
    assert proxy.stats().active == 1
    proxy.stop()
    assert proxy.join(10)
    assert proxy.stats().active == 0
    with pytest.raises((ConnectionError, http.client.HTTPException, ssl.SSLError)):
        _get(conn, 10)
    proxy.stop()  # idempotent
    with pytest.raises(RuntimeError):
        proxy.start()


def test_stop_does_not_wait_for_a_client_that_stopped_reading(
    ca: trustme.CA, make_server: Any
) -> None:
    proxy = FaultProxy(upstream=make_server().address).start()
    conn = _https(proxy, _context(ca, ssl.TLSVersion.TLSv1_2))
    conn.request("GET", "/?size=40000000")  # far more than the socket buffers hold
    response = conn.getresponse()
    assert response.status == 200  # and the body is never read
    proxy.stop()
    assert proxy.join(10)
    assert proxy.stats().active == 0
    conn.close()


def test_bad_arguments_are_rejected(make_server: Any) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        FaultProxy(upstream=("127.0.0.1", 1), lifetime=0)
    proxy = FaultProxy(upstream=("127.0.0.1", 1))
    with pytest.raises(RuntimeError):
        _ = proxy.address
    with pytest.raises(ValueError, match="times"):
        proxy.add_fault(Fault.rst_on_accept(), times=0)
    with pytest.raises(ValueError, match="rate"):
        proxy.set_random_faults(1.5, [Fault.rst_on_accept()])
    with pytest.raises(ValueError, match="direction"):
        proxy.stats().app_data_sizes("up")  # type: ignore[arg-type]
