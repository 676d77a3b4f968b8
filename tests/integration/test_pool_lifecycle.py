"""Connection lifecycle: no stale pooled connection, bounded pools, a deadline that holds.

Real TLS servers on loopback: the ledger, behind a FaultProxy where the test needs to
count connections or play a peer that forgets idle connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import requests

import soapguard
from faulty import BINDING, rig
from servers.oneshot import OneShotServer
from soapguard import Config
from soapguard.errors import DeadlineExceeded, PoolTimeout
from soapguard.testing import Fault
from soapguard.testing.ledger import LedgerServer

pytestmark = pytest.mark.timeout(60)

_ids = itertools.count()
FAST = {"backoff_initial": 0.001, "backoff_max": 0.01}
#: the peer forgets connections idle longer than this; the client waits longer than it
PEER_IDLE_LIMIT = 1.0
IDLE = 1.6


def rid() -> str:
    return f"life-{next(_ids)}"


@pytest.fixture
def faulty(
    make_ledger: Any, server_ssl_context: Any, ca_file: str
) -> Callable[..., AbstractContextManager[Any]]:
    def make(version: str = "1.3", **cfg: Any) -> AbstractContextManager[Any]:
        return rig(make_ledger, server_ssl_context, ca_file, version, **{**FAST, **cfg})

    return make


def transfer(service: Any, request_id: str) -> Any:
    return service.Transfer(fromAccount="1", toAccount="2", amount=Decimal(5), requestId=request_id)


# -- a peer that forgets idle connections ---------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_a_write_after_the_peer_forgot_the_idle_connection_runs_exactly_once(
    faulty: Any, version: str
) -> None:
    with faulty(version, pool_idle_timeout=PEER_IDLE_LIMIT / 2) as r:
        r.service.GetBalance(account="42")  # leaves a connection in the pool
        r.proxy.add_fault(Fault.idle_reset(PEER_IDLE_LIMIT), times=5)
        time.sleep(IDLE)  # the condition under test: the pooled connection sits idle
        request_id = rid()
        result = transfer(r.service, request_id)
        assert result.status == "BOOKED"
        assert r.server.executions(request_id) == 1
        stats = r.proxy.stats()
    assert stats.fired == ()  # the idle connection was closed, never written to
    assert stats.connections == 2


def test_the_control_meets_the_reset_is_not_replayed_and_says_why(faulty: Any) -> None:
    events: list[dict[str, Any]] = []
    with faulty("1.3", pool_idle_timeout=30.0, on_event=events.append) as r:
        r.service.GetBalance(account="42")
        r.proxy.add_fault(Fault.idle_reset(PEER_IDLE_LIMIT))
        time.sleep(IDLE)  # the condition under test: the pooled connection sits idle
        request_id = rid()
        with pytest.raises(requests.exceptions.ConnectionError) as raised:
            transfer(r.service, request_id)
        assert r.server.executions(request_id) == 0  # the peer never ran it...
        stats = r.proxy.stats()
    assert [f.kind for f in stats.fired] == ["idle-reset"]
    report = raised.value.report  # type: ignore[union-attr]
    assert len(report["attempts"]) == 1  # ...and soapguard did not replay it
    (event,) = [e for e in events if e["event"] == "soapguard.attempt_failed"]
    assert event["error.type"] in ("connection.reset", "tls.unexpected_eof")
    assert event["decision_reason"] == "not_idempotent"
    assert event["connection.reused"] is True
    assert event["connection.idle_ms"] >= IDLE * 1000
    assert event["connection.age_ms"] >= event["connection.idle_ms"]
    hint = event["hint"]
    assert "SOAPGUARD_POOL_IDLE_TIMEOUT (now 30 s)" in hint
    assert f"{event['connection.idle_ms'] / 1000:.1f} s" in hint
    assert "was not retried" in hint
    assert "retried the call" not in hint


def test_the_async_client_reports_the_idle_time_of_the_connection_it_reused(
    faulty: Any,
) -> None:
    events: list[dict[str, Any]] = []

    async def scenario(r: Any) -> None:
        await r.service.GetBalance(account="42")
        r.proxy.add_fault(Fault.idle_reset(PEER_IDLE_LIMIT))
        await asyncio.sleep(IDLE)  # the condition under test: the pooled connection sits idle
        with pytest.raises(httpx.TransportError):  # what zeep.AsyncClient would raise
            await transfer(r.service, rid())
        await r.client.transport.aclose()

    with faulty(
        "1.3", client_class=soapguard.AsyncClient, pool_idle_timeout=30.0, on_event=events.append
    ) as r:
        asyncio.run(scenario(r))
    (event,) = [e for e in events if e["event"] == "soapguard.attempt_failed"]
    assert event["connection.reused"] is True
    assert event["connection.idle_ms"] >= IDLE * 1000
    assert event["connection.age_ms"] >= event["connection.idle_ms"]
    assert "SOAPGUARD_POOL_IDLE_TIMEOUT (now 30 s)" in event["hint"]


def test_an_event_on_a_fresh_connection_has_no_idle_time(faulty: Any) -> None:
    events: list[dict[str, Any]] = []
    with faulty("1.3", on_event=events.append, max_attempts=1) as r:
        r.proxy.add_fault(Fault.rst_after_request())
        with pytest.raises(requests.exceptions.ConnectionError):
            r.service.GetBalance(account="42")
    event = events[0]
    assert event["connection.reused"] is False
    assert event["connection.idle_ms"] is None
    assert event["connection.age_ms"] is not None
    assert event["connection.age_ms"] > 0


# -- maximum age ------------------------------------------------------------------------------


def test_connections_are_retired_at_their_maximum_age_between_requests(faulty: Any) -> None:
    with faulty("1.3", pool_max_age=1.0, idempotent_operations=("Get*",)) as r:
        calls = 0
        started = time.monotonic()
        while time.monotonic() - started < 3.2:  # continuous calls over 3 s
            r.service.GetBalance(account="42")
            calls += 1
        stats = r.proxy.stats()
    assert calls > 3
    assert stats.connections >= 3
    assert stats.fired == ()
    assert stats.missed == ()
    # each connection carried several requests: retired between them, never mid-call
    assert sum(record.requests for record in stats.connection_records) == calls


# -- a bounded pool ---------------------------------------------------------------------------


def test_32_threads_share_4_connections_without_a_full_pool_warning(
    make_ledger: Any, server_ssl_context: Any, ca_file: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    # the proxy resets a fifth connection open at once
    limit = {"max_concurrent": 4}
    with rig(make_ledger, server_ssl_context, ca_file, proxy_options=limit, pool_maxsize=4) as r:
        barrier = threading.Barrier(32, timeout=20)
        failures: list[BaseException] = []

        def work() -> None:
            try:
                barrier.wait()
                for _ in range(4):
                    r.service.GetBalance(account="42")
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(50)
        stats = r.proxy.stats()
    assert failures == []
    assert stats.rejected == 0
    assert stats.connections <= 4
    assert stats.requests == 32 * 4
    assert not [rec for rec in caplog.records if "pool is full" in rec.getMessage()]


def test_a_caller_that_gets_no_connection_in_time_fails_with_timeout_pool(faulty: Any) -> None:
    events: list[dict[str, Any]] = []
    with faulty(
        "1.2", pool_maxsize=1, connect_timeout=1.0, max_attempts=2, on_event=events.append
    ) as r:
        r.proxy.add_fault(Fault.stall(seconds=30))  # holds the only connection
        holder = threading.Thread(target=_swallow(lambda: r.service.GetBalance(account="1")))
        holder.start()
        _wait_for(lambda: bool(r.proxy.stats().fired))  # the holder's response is held
        requests_before = r.proxy.stats().requests
        request_id = rid()
        with pytest.raises(PoolTimeout) as raised:
            transfer(r.service, request_id)
        assert r.proxy.stats().requests == requests_before  # nothing was sent
        r.proxy.stop()  # releases the holder
        holder.join(10)
    assert isinstance(raised.value, requests.exceptions.ConnectTimeout)
    assert r.server.executions(request_id) == 0
    mine = [e for e in events if e["rpc.method"] == "Transfer"]
    first, last = mine[0], mine[1]
    assert first["error.type"] == "timeout.pool"
    assert (first["request_sent"], first["phase"]) == ("none", "connect")
    assert (first["decision"], first["decision_reason"]) == ("retry", "not_sent")
    assert last["decision_reason"] == "attempts_exhausted"
    assert "SOAPGUARD_POOL_MAXSIZE" in first["hint"]
    assert "SOAPGUARD_POOL_MAXSIZE" in str(raised.value)
    # urllib3's way of naming the pool (with soapguard's internal class) is not the message
    assert "Pool(" not in str(raised.value)
    assert str(raised.value).count("no connection to 127.0.0.1:") == 1


def test_a_retry_keeps_the_pool_and_its_limit(faulty: Any) -> None:
    with faulty("1.3", pool_maxsize=3, idempotent_operations=("Get*",)) as r:
        r.service.GetBalance(account="42")
        adapter = r.client.transport.adapter
        (pool,) = [
            adapter.poolmanager.pools[key]
            for key in adapter.poolmanager.pools.keys()  # noqa: SIM118
            if key.key_port == r.proxy.port
        ]
        r.proxy.add_fault(Fault.rst_after_request())
        r.service.GetBalance(account="42")  # fails once, retried on a fresh connection
        stats = r.proxy.stats()
        assert adapter.poolmanager.connection_from_url(r.url) is pool
        assert pool.pool is not None
        assert pool.pool.qsize() == 3
    assert [f.kind for f in stats.fired] == ["rst-after-request"]
    assert stats.connections == 2


# -- the deadline bounds a trickling response ----------------------------------------------


class Trickle:
    """Answers one POST with a 5000-byte body sent 64 bytes every 0.3 s (25 s in all).

    Works on a TLS or a plain socket; ``client_closed`` is set when the client goes away.
    """

    SIZE, PIECE, PAUSE = 5000, 64, 0.3

    def __init__(self) -> None:
        self.client_closed = threading.Event()
        self.sent = 0

    def __call__(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(65536)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = head.split(b"\r\n\r\n", 1)[1]
        while len(body) < length:
            body += conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"
            b"Content-Length: %d\r\n\r\n" % self.SIZE
        )
        conn.setblocking(False)
        while self.sent < self.SIZE:
            readable, _, _ = select.select([conn], [], [], self.PAUSE)
            if readable and _closed(conn):
                self.client_closed.set()
                return
            try:
                conn.send(b" " * self.PIECE)
            except OSError:
                self.client_closed.set()
                return
            self.sent += self.PIECE


def _closed(conn: socket.socket) -> bool:
    try:
        return conn.recv(1) == b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except OSError:
        return True


@pytest.mark.timeout(20)  # the trickle alone would take 25 s
def test_a_trickling_response_ends_at_the_deadline_and_its_connection_is_closed(
    ledger: LedgerServer, ca_file: str, server_ssl_context: Any
) -> None:
    trickle = Trickle()
    events: list[dict[str, Any]] = []
    config = Config(ca_bundle=ca_file, deadline=2.0, on_event=events.append)
    client = soapguard.Client(ledger.wsdl_url, config=config)
    with OneShotServer(server_ssl_context(), trickle) as server:
        service = client.create_service(BINDING, f"https://127.0.0.1:{server.port}/ledger")
        with pytest.raises(DeadlineExceeded) as raised:
            service.GetBalance(account="42")
        assert trickle.client_closed.wait(5)  # the connection was discarded
    assert trickle.sent < Trickle.SIZE  # the call returned before the trickle could finish
    assert isinstance(raised.value, requests.exceptions.Timeout)
    (event,) = [e for e in events if e["event"] == "soapguard.attempt_failed"]
    assert event["error.type"] == "timeout.deadline"
    assert (event["phase"], event["request_sent"]) == ("receive", "full")
    assert event["decision_reason"] == "deadline"


@pytest.mark.timeout(20)  # the trickle alone would take 25 s
def test_the_deadline_also_stops_a_trickle_over_plain_http(
    ledger: LedgerServer, ca_file: str
) -> None:
    trickle = Trickle()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            trickle(conn)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    client = soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file, deadline=2.0))
    address = f"http://127.0.0.1:{listener.getsockname()[1]}/ledger"
    service = client.create_service(BINDING, address)
    try:
        with pytest.raises(DeadlineExceeded):
            service.GetBalance(account="42")
        assert trickle.client_closed.wait(5)
    finally:
        listener.close()
        server.join(10)
    assert trickle.sent < Trickle.SIZE


# -- helpers ----------------------------------------------------------------------------------


def _swallow(call: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        # the holder's call ends when the proxy stops: its outcome is not under test
        with contextlib.suppress(Exception):
            call()

    return run


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll an observable condition (not a fixed sleep), failing after ``timeout``."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
