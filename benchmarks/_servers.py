"""The benchmark's server side, in a child process: a canned TLS HTTP/1.1 server (+ FaultProxy).

Why a dedicated server rather than ``LedgerServer``: it answers every POST with
one pre-built ``GetBalanceResponse`` envelope without parsing the request, so
per-call costs measured in the client are the client's.  It runs in a
*separate process* (``multiprocessing``, spawn), so ``time.process_time()`` in
the benchmark process counts the client's CPU only; the optional
:class:`soapguard.testing.FaultProxy` runs in that child process too, so
neither its CPU nor its memory (it keeps per-connection statistics) is charged
to the client.

Routes (on 127.0.0.1 only, demo certificate, TLS 1.2-1.3, keep-alive):

* ``POST <any path>``: the canned SOAP 1.1 ``GetBalanceResponse``;
* ``POST /slow/MS``: the same, after ``MS`` milliseconds (a server that takes its time);
* ``GET /bytes/N``: ``N`` bytes of ``application/octet-stream`` (at most 16 MiB).

The parent talks to the child over a pipe: :class:`ServerProcess` queues
faults on the proxy, switches random faults on and reads proxy statistics.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import ssl
import threading
import time
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from soapguard.testing import Fault, FaultProxy
from soapguard.testing.ledger import DEMO_CERT_FILE, DEMO_KEY_FILE

#: what every POST gets back (the schema of wsdl/ledger.wsdl, operation GetBalance)
CANNED_RESPONSE = (
    b"<?xml version='1.0' encoding='utf-8'?>\n"
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<tns:GetBalanceResponse xmlns:tns="urn:soapguard:ledger"><tns:account>42</tns:account>'
    b"<tns:balance>1234.56</tns:balance><tns:currency>EUR</tns:currency>"
    b"</tns:GetBalanceResponse></soap:Body></soap:Envelope>"
)
MAX_BODY = 16 * 1024 * 1024
_BULK = bytes(range(256)) * (MAX_BODY // 256)
_MAX_HEADER_LINES = 100
#: the child exits on its own after this long, whatever the parent does
LIFETIME = 900.0


class _CannedServer:
    """Accept loop + one thread per connection; stops when the listener is closed."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _accept_loop(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(LIFETIME)
            with self._context.wrap_socket(raw, server_side=True) as conn:
                reader = conn.makefile("rb", buffering=65536)
                while self._one_exchange(conn, reader):
                    pass
        except (OSError, ValueError):  # resets, injected faults, clients that went away
            pass
        finally:
            raw.close()

    @staticmethod
    def _one_exchange(conn: ssl.SSLSocket, reader: Any) -> bool:
        request_line = reader.readline(65536)
        if not request_line:
            return False
        length = 0
        for _ in range(_MAX_HEADER_LINES):
            line = reader.readline(65536)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            reader.read(length)
        method, _, rest = request_line.partition(b" ")
        path = rest.split(b" ", 1)[0]
        if method == b"GET" and path.startswith(b"/bytes/"):
            size = min(int(path[len(b"/bytes/") :]), MAX_BODY)
            body: bytes | memoryview = memoryview(_BULK)[:size]
            kind = b"application/octet-stream"
        else:
            if path.startswith(b"/slow/"):
                time.sleep(min(int(path[len(b"/slow/") :]), 10_000) / 1000)
            body, kind = CANNED_RESPONSE, b"text/xml; charset=utf-8"
        head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
            kind,
            len(body),
        )
        conn.sendall(head)
        conn.sendall(body)
        return True


def _child_main(pipe: Connection, with_proxy: bool) -> None:
    """Child process: serve, report the ports, then obey commands until told to stop."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(DEMO_CERT_FILE, DEMO_KEY_FILE)
    server = _CannedServer(context)
    server.start()
    proxy = None
    if with_proxy:
        proxy = FaultProxy(upstream=("127.0.0.1", server.port), lifetime=LIFETIME).start()
    pipe.send((server.port, proxy.port if proxy else None))
    try:
        while pipe.poll(LIFETIME):
            command, *args = pipe.recv()
            if command == "stop":
                break
            try:
                pipe.send(("ok", _obey(proxy, command, args)))
            except Exception as exc:  # report to the parent instead of dying silently
                pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    except EOFError:  # the parent went away
        pass
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()


def _obey(proxy: FaultProxy | None, command: str, args: list[Any]) -> Any:
    if proxy is None:
        raise RuntimeError("no proxy in this server process")
    if command == "add_fault":
        proxy.add_fault(Fault.parse(args[0]), times=args[1])
        return None
    if command == "random_faults":
        rate, specs, seed = args
        proxy.set_random_faults(rate, [Fault.parse(s) for s in specs], seed=seed)
        return None
    if command == "clear_faults":
        proxy.clear_faults()
        return None
    if command == "stats":
        stats = proxy.stats()
        return {
            "connections": stats.connections,
            "requests": stats.requests,
            "fired": len(stats.fired),
            "missed": len(stats.missed),
        }
    raise ValueError(f"unknown command {command!r}")


class ServerProcess:
    """The canned server (and optionally a FaultProxy in front of it) in a child process."""

    def __init__(self, *, with_proxy: bool = False) -> None:
        self._with_proxy = with_proxy
        self._pipe: Connection | None = None
        self._process: Any = None
        self.port = 0
        self.proxy_port: int | None = None

    def __enter__(self) -> ServerProcess:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(target=_child_main, args=(child, self._with_proxy), daemon=True)
        self._process.start()
        child.close()
        self._pipe = parent
        if not parent.poll(60):
            raise RuntimeError("benchmark server process did not start within 60 s")
        self.port, self.proxy_port = parent.recv()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.send(("stop",))
            self._pipe.close()
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5)

    @property
    def url(self) -> str:
        """The server itself (an IP address: ``localhost`` would also try ``::1``)."""
        return f"https://127.0.0.1:{self.port}/ledger"

    @property
    def proxy_url(self) -> str:
        if self.proxy_port is None:
            raise RuntimeError("started without a proxy")
        return f"https://127.0.0.1:{self.proxy_port}/ledger"

    def _ask(self, *command: Any) -> Any:
        assert self._pipe is not None, "not started"
        self._pipe.send(command)
        if not self._pipe.poll(30):
            raise RuntimeError(f"benchmark server did not answer {command[0]!r}")
        status, result = self._pipe.recv()
        if status != "ok":
            raise RuntimeError(f"benchmark server: {command[0]!r} failed: {result}")
        return result

    def add_fault(self, spec: str, times: int = 1) -> None:
        """Queue a FaultProxy fault (``Fault.parse`` form, e.g. ``flip-response-record:1``)."""
        self._ask("add_fault", spec, times)

    def set_random_faults(self, rate: float, specs: list[str], seed: int) -> None:
        self._ask("random_faults", rate, specs, seed)

    def clear_faults(self) -> None:
        self._ask("clear_faults")

    def proxy_stats(self) -> dict[str, int]:
        result: dict[str, int] = self._ask("stats")
        return result
