"""soapguard's asyncio network layer for httpcore (``transport._aionet``) against real peers.

Each failure must reach httpcore (and so httpx and the classifier) as it does through
anyio's streams: end of stream as ``b""`` (with or without ``close_notify``), a broken
connection as ``ReadError``/``WriteError`` chained to the ``OSError``, other TLS errors
as the ``ssl.SSLError`` itself, timeouts as httpcore's timeouts.  Flow control must hold
in both directions, and a held request head must go out with its body.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpcore
import httpx
import pytest

import soapguard
from faulty import BINDING
from servers.connect_proxy import ConnectProxy
from servers.oneshot import OneShotServer
from soapguard.classify._util import walk
from soapguard.config import Config
from soapguard.tls import context as tls
from soapguard.tls import trace as _trace
from soapguard.transport._aionet import AsyncioBackend, StreamObserver

pytestmark = pytest.mark.timeout(60)

BIG = 3 * 1024 * 1024  # larger than loopback's socket buffers: both sides must wait


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def backend(observer: StreamObserver | None = None) -> AsyncioBackend:
    fallback = httpcore.AsyncConnectionPool()._network_backend  # httpcore's own (anyio)
    return AsyncioBackend(fallback, None if observer is None else lambda host, port: observer)


@pytest.fixture
def client_context(ca_file: str) -> Iterator[ssl.SSLContext]:
    tls.clear_cache()
    yield tls.context_for(Config(ca_bundle=ca_file))
    tls.clear_cache()


async def connect(port: int, context: ssl.SSLContext, **kw: Any) -> httpcore.AsyncNetworkStream:
    stream = await backend(**kw).connect_tcp("127.0.0.1", port, timeout=10)
    return await stream.start_tls(context, server_hostname="localhost", timeout=10)


async def read_all(stream: httpcore.AsyncNetworkStream) -> bytes:
    chunks = []
    while chunk := await stream.read(65536, timeout=10):
        chunks.append(chunk)
    return b"".join(chunks)


def serve(
    server_ssl_context: Callable[..., ssl.SSLContext], handler: Callable[[ssl.SSLSocket], None]
) -> OneShotServer:
    return OneShotServer(server_ssl_context(), handler)


def reset(conn: ssl.SSLSocket) -> None:
    """Close with a TCP RST (SO_LINGER 0)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("close_notify", [True, False], ids=["close_notify", "bare_close"])
def test_a_large_response_arrives_whole_then_end_of_stream(
    server_ssl_context: Any, client_context: ssl.SSLContext, close_notify: bool
) -> None:
    payload = bytes(range(256)) * (BIG // 256)

    def handler(conn: ssl.SSLSocket) -> None:
        conn.recv(1)
        conn.sendall(payload)
        if close_notify:  # sent, then unwrap() waits for ours, which never comes (as with anyio)
            with contextlib.suppress(ssl.SSLError):
                conn.unwrap()
        # else: the socket closes without close_notify, as many servers do

    async def main() -> bytes:
        stream = await connect(server.port, client_context)
        await stream.write(b"!")
        data = await read_all(stream)
        assert await stream.read(10, timeout=10) == b""  # and it stays at the end
        await stream.aclose()
        return data

    with serve(server_ssl_context, handler) as server:
        data = run(main())
    assert server.error is None
    assert hashlib.sha256(data).digest() == hashlib.sha256(payload).digest()


def test_a_large_write_waits_for_the_peer_and_arrives_whole(
    server_ssl_context: Any, client_context: ssl.SSLContext
) -> None:
    payload = bytes(range(251)) * (BIG // 251)
    received = hashlib.sha256()

    def handler(conn: ssl.SSLSocket) -> None:
        left = len(payload)
        while left:
            chunk = conn.recv(min(left, 16384))
            received.update(chunk)
            left -= len(chunk)
        conn.sendall(b"done")

    class Counting(StreamObserver):
        written = 0

        def wrote(self, token: Any, size: int) -> None:
            self.written += size

    observer = Counting()

    async def main() -> bytes:
        stream = await connect(server.port, client_context, observer=observer)
        await stream.write(payload, timeout=10)
        return await stream.read(10, timeout=10)

    with serve(server_ssl_context, handler) as server:
        assert run(main()) == b"done"
    assert server.error is None
    assert received.digest() == hashlib.sha256(payload).digest()
    assert observer.written == len(payload)


def test_a_request_head_goes_out_with_its_body_in_one_record(
    server_ssl_context: Any, client_context: ssl.SSLContext
) -> None:
    head = b"POST /svc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n"
    got: list[bytes] = []

    def handler(conn: ssl.SSLSocket) -> None:
        got.append(conn.recv(65536))  # one TLS record: what one read returns
        conn.sendall(b"ok")

    class Tokens(StreamObserver):
        events: list[tuple[str, Any, int]] = []

        def writing(self) -> Any:
            self.events.append(("writing", None, 0))
            return "request-1"

        def wrote(self, token: Any, size: int) -> None:
            self.events.append(("wrote", token, size))

    observer = Tokens()

    async def main() -> bytes:
        stream = await connect(server.port, client_context, observer=observer)
        await stream.write(head)
        assert observer.events == [("writing", None, 0)]  # held: nothing handed over yet
        await stream.write(b"hello")
        return await stream.read(10, timeout=10)

    with serve(server_ssl_context, handler) as server:
        assert run(main()) == b"ok"
    assert server.error is None
    assert got == [head + b"hello"]
    # one request, one token: the held head and its body are reported together
    assert observer.events == [("writing", None, 0), ("wrote", "request-1", len(head) + 5)]


def test_a_held_head_whose_body_never_comes_goes_before_the_next_read(
    server_ssl_context: Any, client_context: ssl.SSLContext
) -> None:
    head = b"POST /svc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n"
    got: list[bytes] = []

    def handler(conn: ssl.SSLSocket) -> None:
        got.append(conn.recv(65536))
        conn.sendall(b"413")

    async def main() -> bytes:
        stream = await connect(server.port, client_context)
        await stream.write(head)
        return await stream.read(10, timeout=10)

    with serve(server_ssl_context, handler) as server:
        assert run(main()) == b"413"
    assert got == [head]


def test_a_reset_is_a_read_error_chained_to_the_os_error(
    server_ssl_context: Any, client_context: ssl.SSLContext
) -> None:
    def handler(conn: ssl.SSLSocket) -> None:
        conn.recv(1)
        reset(conn)

    async def main() -> BaseException:
        stream = await connect(server.port, client_context)
        await stream.write(b"!")
        with pytest.raises(httpcore.ReadError) as caught:
            await read_all(stream)
        return caught.value

    with serve(server_ssl_context, handler) as server:
        error = run(main())
    assert any(isinstance(e, ConnectionResetError) for e in walk(error)), walk(error)


async def write_until_it_fails(stream: httpcore.AsyncNetworkStream) -> None:
    for _ in range(50):  # the first writes may still reach the kernel's buffer
        await stream.write(b"x" * 65536, timeout=10)
        await asyncio.sleep(0)  # one turn of the loop: it sees the reset


def test_a_write_after_the_peer_left_is_a_write_error_and_says_so(
    server_ssl_context: Any, client_context: ssl.SSLContext
) -> None:
    def handler(conn: ssl.SSLSocket) -> None:
        reset(conn)

    class Failed(StreamObserver):
        failed: list[Any] = []

        def writing(self) -> Any:
            return "request-1"

        def write_failed(self, token: Any) -> None:
            self.failed.append(token)

    observer = Failed()

    async def main() -> None:
        stream = await connect(server.port, client_context, observer=observer)
        server.thread.join(10)  # the peer has reset the connection
        with pytest.raises(httpcore.WriteError):
            await write_until_it_fails(stream)

    with serve(server_ssl_context, handler) as server:
        run(main())
    assert observer.failed == ["request-1"]


def test_a_corrupted_record_raises_the_ssl_error_itself(
    server_ssl_context: Any, client_context: ssl.SSLContext
) -> None:
    """A record that fails its MAC check is ``ssl.SSLError`` (as with bare httpx)."""
    raw_server = socket.create_server(("127.0.0.1", 0))
    port = raw_server.getsockname()[1]
    sslctx = server_ssl_context(max_version=ssl.TLSVersion.TLSv1_2)

    def serve_corrupt() -> None:
        raw, _ = raw_server.accept()
        with raw:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = sslctx.wrap_bio(incoming, outgoing, server_side=True)
            while True:  # the handshake, over the raw socket
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    incoming.write(raw.recv(65536))
            raw.sendall(outgoing.read())
            obj.write(b"a" * 100)
            record = bytearray(outgoing.read())
            record[-1] ^= 0xFF  # flip a bit of the MAC
            raw.sendall(bytes(record))
            raw.recv(1)

    thread = threading.Thread(target=serve_corrupt, daemon=True)
    thread.start()

    async def main() -> None:
        stream = await connect(port, client_context)
        with pytest.raises(ssl.SSLError) as caught:
            await stream.read(1000, timeout=10)
        assert "BAD_RECORD_MAC" in str(caught.value) or "bad record mac" in str(caught.value)
        await stream.aclose()

    try:
        run(main())
    finally:
        raw_server.close()
        thread.join(10)


def test_silence_is_a_read_timeout(server_ssl_context: Any, client_context: ssl.SSLContext) -> None:
    done = threading.Event()

    async def main() -> None:
        stream = await connect(server.port, client_context)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(10, timeout=0.2)
        done.set()

    def handler(conn: ssl.SSLSocket) -> None:
        done.wait(10)  # silent until the client has timed out

    with serve(server_ssl_context, handler) as server:
        run(main())


def test_a_handshake_nobody_answers_is_a_connect_timeout(client_context: ssl.SSLContext) -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers

    async def main() -> None:
        stream = await backend().connect_tcp("127.0.0.1", listener.getsockname()[1], timeout=5)
        with pytest.raises(httpcore.ConnectTimeout):
            await stream.start_tls(client_context, server_hostname="localhost", timeout=0.2)

    with listener:
        run(main())


def test_a_refused_connection_is_a_connect_error_chained_to_the_refusal() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nobody listens there now

    async def main() -> BaseException:
        with pytest.raises(httpcore.ConnectError) as caught:
            await backend().connect_tcp("127.0.0.1", port, timeout=5)
        return caught.value

    error = run(main())
    assert any(isinstance(e, ConnectionRefusedError) for e in walk(error))


def test_an_untrusted_certificate_is_a_connect_error_with_the_verification_error(
    server_ssl_context: Any,
) -> None:
    untrusting = ssl.create_default_context()  # the public roots: not the test CA

    async def main() -> BaseException:
        with pytest.raises(httpcore.ConnectError) as caught:
            await connect(server.port, untrusting)
        return caught.value

    with serve(server_ssl_context, lambda conn: None) as server:
        error = run(main())
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in walk(error))


def test_an_idle_connection_the_peer_closed_reads_as_readable(
    server_ssl_context: Any, client_context: ssl.SSLContext
) -> None:
    checked, closed = threading.Event(), threading.Event()

    def handler(conn: ssl.SSLSocket) -> None:
        conn.recv(1)
        conn.sendall(b"ok")
        checked.wait(10)
        conn.close()
        closed.set()

    async def main() -> tuple[bool, bool]:
        stream = await connect(server.port, client_context)
        await stream.write(b"!")
        assert await stream.read(2, timeout=10) == b"ok"
        before = stream.get_extra_info("is_readable")
        checked.set()
        await asyncio.get_running_loop().run_in_executor(None, closed.wait, 10)
        return before, stream.get_extra_info("is_readable")

    with serve(server_ssl_context, handler) as server:
        before, after = run(main())
    assert (before, after) == (False, True)


def test_the_record_tracer_sees_this_layers_connections(
    server_ssl_context: Any, client_context: ssl.SSLContext
) -> None:
    if not _trace.available():
        pytest.skip("this interpreter has no SSLContext._msg_callback")

    def handler(conn: ssl.SSLSocket) -> None:
        conn.recv(1)
        conn.sendall(b"z" * 40_000)

    async def main() -> Any:
        stream = await connect(server.port, client_context)
        await stream.write(b"!")
        received = 0
        while received < 40_000:
            received += len(await stream.read(65536, timeout=10))
        ssl_object = stream.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        return _trace.stats_for(ssl_object)

    with serve(server_ssl_context, handler) as server:
        stats = run(main())
    assert stats is not None
    assert stats.records_in >= 3  # the handshake's and 40 kB in 16 kB records
    assert stats.largest_record_in >= 16384


class _TLSConnectProxy(ConnectProxy):
    """The CONNECT proxy, itself behind TLS (an ``https://`` proxy): TLS inside TLS."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context

    def get_request(self) -> tuple[Any, Any]:
        raw, address = super().get_request()
        return self.context.wrap_socket(raw, server_side=True), address


def _async_proxy_ssl_context_honoured() -> bool:
    """httpx before 0.27 drops ``Proxy(ssl_context=...)`` in its *async* transport (the
    sync one passes it on), so a TLS proxy with a private CA cannot be reached at all."""
    context = ssl.create_default_context()
    transport = httpx.AsyncHTTPTransport(
        proxy=httpx.Proxy("https://127.0.0.1:1", ssl_context=context)
    )
    return getattr(transport._pool, "_proxy_ssl_context", None) is context


@pytest.mark.parametrize("proxy_scheme", ["http", "https"])
def test_calls_through_a_connect_proxy_plain_or_over_tls(
    make_ledger: Any, server_ssl_context: Any, ca_file: str, proxy_scheme: str
) -> None:
    if proxy_scheme == "https" and not _async_proxy_ssl_context_honoured():
        pytest.skip(
            f"httpx {httpx.__version__} ignores Proxy(ssl_context=...) in its async transport"
        )
    ledger = make_ledger()
    tunnel = ConnectProxy() if proxy_scheme == "http" else _TLSConnectProxy(server_ssl_context())
    with tunnel:
        proxy_url = f"{proxy_scheme}://127.0.0.1:{tunnel.server_address[1]}"
        proxy_trust = (
            ssl.create_default_context(cafile=ca_file) if proxy_scheme == "https" else None
        )
        proxy = httpx.Proxy(proxy_url, ssl_context=proxy_trust)
        config = soapguard.Config(ca_bundle=ca_file, idempotent_operations=("Get*",))
        transport = soapguard.AsyncTransport(proxy=proxy, config=config)
        client = soapguard.AsyncClient(ledger.wsdl_url, transport=transport)
        service = client.create_service(BINDING, f"https://localhost:{ledger.port}/ledger")

        async def calls() -> list[Any]:
            async with client:
                return [await service.GetBalance(account="42") for _ in range(3)]

        balances = run(calls())
    assert len(balances) == 3
    assert balances[0] == balances[2]
    # two tunnels: the WSDL's (loaded synchronously) and one shared by the three calls
    assert tunnel.tunnels == [f"localhost:{ledger.port}"] * 2
