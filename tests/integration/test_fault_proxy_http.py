"""FaultProxy faults for connection lifecycle and framing: idle resets, re-framed answers,
an intermediary that ignores ``Expect: 100-continue``.

``idle-reset`` works on TLS and plain TCP; the others read or rewrite HTTP, so they
apply to plain-HTTP connections only (inside TLS the ledger's ``frame_next`` plays
the server that answers chunked or close-delimited; see test_wire_shape.py).
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

import soapguard
from faulty import BINDING
from soapguard import Config
from soapguard.testing import Fault, FaultProxy
from soapguard.testing.ledger import LedgerServer
from soapguard.testing.proxy.http1 import Reframer, expects_continue
from soapguard.testing.proxy.verdict import on_request

pytestmark = pytest.mark.timeout(60)

LINES = 1200  # GetStatement lines: a response of about 200 KB


@pytest.fixture
def plain(make_ledger: Callable[..., LedgerServer]) -> Iterator[tuple[LedgerServer, FaultProxy]]:
    server = make_ledger(tls=False)
    with FaultProxy(upstream=("127.0.0.1", server.port), lifetime=60) as proxy:
        yield server, proxy


def service_through(server: LedgerServer, proxy: FaultProxy, **config: Any) -> Any:
    client = soapguard.Client(server.wsdl_url, config=Config(**config))
    return client.create_service(BINDING, f"http://127.0.0.1:{proxy.port}/ledger")


@pytest.mark.parametrize(
    ("fault", "how"),
    [
        (Fault.chunked_response(), "chunked"),
        (Fault.close_delimited_response(), "close-delimited, then closed"),
    ],
)
def test_reframed_200kb_answers_parse(
    plain: tuple[LedgerServer, FaultProxy], fault: Fault, how: str
) -> None:
    server, proxy = plain
    service = service_through(server, proxy)
    proxy.add_fault(fault)
    result = service.GetStatement(account="42", lines=LINES)
    assert len(result.entry) == LINES
    (fired,) = proxy.stats().fired
    assert fired.kind == fault.kind
    assert how in fired.detail
    assert int(fired.detail.split("the ")[1].split("-byte")[0]) > 200_000
    assert service.GetBalance(account="42").currency == "EUR"  # the next call still works


def test_reframing_a_response_without_a_length_is_reported_missed(
    plain: tuple[LedgerServer, FaultProxy],
) -> None:
    server, proxy = plain
    server.frame_next("chunked")  # the server itself answers chunked: nothing to re-frame
    proxy.add_fault(Fault.close_delimited_response())
    result = service_through(server, proxy).GetStatement(account="42", lines=3)
    assert len(result.entry) == 3
    stats = proxy.stats()
    assert stats.fired == ()
    assert "no Content-Length" in stats.missed[0].detail


def test_framing_faults_wait_for_a_plain_connection(
    make_ledger: Callable[..., LedgerServer], ca_file: str
) -> None:
    server = make_ledger()
    with FaultProxy(upstream=("127.0.0.1", server.port), lifetime=60) as proxy:
        proxy.add_fault(Fault.chunked_response())
        client = soapguard.Client(server.wsdl_url, config=Config(ca_bundle=ca_file))
        service = client.create_service(BINDING, f"https://127.0.0.1:{proxy.port}/ledger")
        service.GetBalance(account="42")
        assert proxy.pending_faults() == (Fault.chunked_response(),)  # TLS: cannot apply


@pytest.mark.parametrize("tls", [False, True])
def test_idle_reset_fires_only_on_a_connection_idle_long_enough(
    make_ledger: Callable[..., LedgerServer], ca_file: str, tls: bool
) -> None:
    server = make_ledger(tls=tls)
    scheme = "https" if tls else "http"
    with FaultProxy(upstream=("127.0.0.1", server.port), lifetime=60) as proxy:
        session = soapguard.Transport(config=Config(ca_bundle=ca_file)).session
        url = f"{scheme}://127.0.0.1:{proxy.port}/ledger?wsdl"
        assert session.get(url, timeout=10).status_code == 200
        proxy.add_fault(Fault.idle_reset(0.5))
        assert session.get(url, timeout=10).status_code == 200  # not idle: the fault waits
        assert proxy.pending_faults() == (Fault.idle_reset(0.5),)
        time.sleep(0.8)  # the condition under test: the connection sits idle
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(url, timeout=10)
        stats = proxy.stats()
    (fired,) = stats.fired
    assert (fired.kind, fired.connection, fired.request) == ("idle-reset", 1, 3)
    assert "the request was not forwarded" in fired.detail
    assert stats.requests == 3


def test_expect_stall_holds_a_request_that_asks_for_100_continue(
    plain: tuple[LedgerServer, FaultProxy],
) -> None:
    server, proxy = plain
    proxy.add_fault(Fault.expect_stall(5))
    # soapguard never sends Expect: its call goes through and the fault stays queued
    assert service_through(server, proxy).GetBalance(account="42").currency == "EUR"
    assert proxy.pending_faults() == (Fault.expect_stall(5),)
    # a client that does send it waits in vain for "100 Continue"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=0.5) as sock:
        sock.sendall(
            b"POST /ledger HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n"
        )
        with pytest.raises(TimeoutError):
            sock.recv(100)
    (fired,) = proxy.stats().fired
    assert fired.kind == "expect-stall"


def test_a_client_waiting_for_100_continue_without_the_fault_gets_it(
    plain: tuple[LedgerServer, FaultProxy],
) -> None:
    """The control: the same raw request through the proxy, no fault, is answered."""
    _, proxy = plain
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(
            b"POST /ledger HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100")


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("idle-reset:2", Fault.idle_reset(2)),
        ("idle-reset:0.5", Fault.idle_reset(0.5)),
        ("chunked-response", Fault.chunked_response()),
        ("close-delimited-response", Fault.close_delimited_response()),
        ("expect-stall:30", Fault.expect_stall(30)),
    ],
)
def test_new_fault_specs_round_trip(spec: str, fault: Fault) -> None:
    assert Fault.parse(spec) == fault
    assert str(fault) == spec
    assert fault.needs_plain is (fault.kind != "idle-reset")
    assert not fault.needs_tls


@pytest.mark.parametrize("spec", ["idle-reset", "idle-reset:0", "chunked-response:1"])
def test_bad_new_fault_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError, match=r"idle-reset|chunked-response"):
        Fault.parse(spec)


# -- the HTTP/1.1 pieces, without sockets ----------------------------------------------------

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 11\r\n\r\n"


def feed_all(reframer: Reframer, pieces: list[bytes]) -> bytes:
    return b"".join(reframer.feed(piece) for piece in pieces)


def test_reframer_chunks_a_response_arriving_in_pieces() -> None:
    reframer = Reframer("chunked")
    out = feed_all(reframer, [HEAD[:20], HEAD[20:] + b"hello", b" world"])
    assert reframer.state == "done"
    response = http.client.HTTPResponse(_FakeSock(out))  # type: ignore[arg-type]
    response.begin()
    assert response.chunked
    assert response.read() == b"hello world"


def test_reframer_close_delimits_and_drops_the_length() -> None:
    reframer = Reframer("close")
    out = feed_all(reframer, [HEAD + b"hello world" + b"EXTRA"])
    assert reframer.state == "done"
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"content-length" not in head.lower()
    assert b"Connection: close" in head
    assert body == b"hello world"


def test_reframer_passes_through_what_it_cannot_reframe() -> None:
    reframer = Reframer("chunked")
    unframed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    assert feed_all(reframer, [unframed[:10], unframed[10:]]) == unframed
    assert reframer.state == "passthrough"


def test_request_faults_fire_only_when_their_condition_is_met() -> None:
    idle = Fault.idle_reset(1.0)
    assert on_request(idle, 100, idle=0.99, plain=None) == "later"
    verdict, detail = on_request(idle, 100, idle=1.0, plain=None)  # type: ignore[misc]
    assert verdict.before == "rst"
    assert "not forwarded" in detail
    expect = Fault.expect_stall(2)
    head = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"
    assert on_request(expect, len(head), idle=0.0, plain=None) == "later"  # inside TLS
    assert on_request(expect, 10, idle=0.0, plain=b"POST / HTTP/1.1\r\n\r\n") == "later"
    verdict, _ = on_request(expect, len(head), idle=0.0, plain=head)  # type: ignore[misc]
    assert verdict.stall == 2
    assert on_request(Fault.chunked_response(), 10, idle=9.0, plain=b"x") == "response"


def test_expects_continue_reads_the_head_only() -> None:
    assert expects_continue(b"POST / HTTP/1.1\r\nEXPECT:  100-Continue \r\n\r\n")
    assert not expects_continue(b"POST / HTTP/1.1\r\nHost: x\r\n\r\nExpect: 100-continue\r\n")


class _FakeSock:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> Any:
        import io

        return io.BytesIO(self.data)


def test_proxy_help_lists_every_fault(capsys: pytest.CaptureFixture[str]) -> None:
    from soapguard.cli import main

    assert main(["proxy", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for form in ("idle-reset:SECONDS", "chunked-response", "close-delimited-response"):
        assert form in text.replace("- ", "-")
    assert "expect-stall:SECONDS" in text.replace("- ", "-")
