"""The async transport's shortcuts give exactly what httpx's own way would (no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from soapguard.transport import _aiosocket, _aiostream, _httpx
from soapguard.transport._httpx_client import httpx_timeout, timeouts

URL = httpx.URL("https://mainframe.example:8443/svc")
SOAP = {"SOAPAction": '"urn:GetBalance"', "Content-Type": "text/xml; charset=utf-8"}


def _httpx_way(defaults: dict[str, str], given: dict[str, str], body: bytes) -> list[Any]:
    merged = httpx.Headers(defaults)
    merged.update(given)
    return httpx.Request("POST", URL, headers=merged, content=body).headers.raw


@pytest.mark.parametrize(
    ("defaults", "given", "body"),
    [
        ({"User-Agent": "Zeep/4.3.3", "Accept": "*/*"}, SOAP, b"<env/>" * 50),
        # a given header replaces the client's default of any case
        ({"user-agent": "Zeep/4.3.3", "X-Trace": "a"}, {**SOAP, "User-Agent": "mine"}, b"x"),
        ({}, {**SOAP, "Host": "elsewhere.example"}, b"x"),  # Host given: kept, not added
        ({}, {**SOAP, "Content-Length": "1"}, b"x"),  # a Content-Length given wins
        ({"Accept": "*/*"}, SOAP, b""),  # empty POST: Content-Length: 0, up front
        ({}, {"Transfer-Encoding": "chunked"}, b""),
        ({}, {"Transfer-Encoding": "chunked"}, b"x"),
        ({"Idempotency-Key": "old"}, {"idempotency-key": "new"}, b"x"),
    ],
)
def test_request_headers_are_what_httpx_would_send(
    defaults: dict[str, str], given: dict[str, str], body: bytes
) -> None:
    ours = _httpx.request_headers(httpx.Headers(defaults), given, URL, len(body))
    assert httpx.Headers(ours).raw == _httpx_way(defaults, given, body)


def test_request_headers_refuse_what_httpx_refuses() -> None:
    with pytest.raises(UnicodeEncodeError):
        _httpx.request_headers(httpx.Headers(), {"SOAPAction": "caf\u00e9"}, URL, 1)
    with pytest.raises(UnicodeEncodeError):
        _httpx_way({}, {"SOAPAction": "caf\u00e9"}, b"x")


@pytest.mark.parametrize("timeout", [None, 5, 2.5, (3, 60), (None, 7), httpx.Timeout(1, read=9)])
def test_timeouts_are_httpx_timeouts_as_a_dict(timeout: Any) -> None:
    assert timeouts(timeout) == httpx_timeout(timeout).as_dict()


@pytest.mark.parametrize(
    ("head", "held"),
    [
        (b"POST /svc HTTP/1.1\r\nHost: h\r\nContent-Length: 512\r\n\r\n", True),
        (b"POST /svc HTTP/1.1\r\nHost: h\r\ncontent-length:7\r\n\r\n", True),
        (b"POST /svc HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", True),
        # no body follows: nothing to wait for
        (b"POST /svc HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", False),
        (b"GET /svc?wsdl HTTP/1.1\r\nHost: h\r\n\r\n", False),
        (b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", False),
        # not a whole head, or too long to be worth holding
        (b"POST /svc HTTP/1.1\r\nContent-Length: 5\r\n", False),
        (b"POST /svc HTTP/1.1\r\nContent-Length: 5\r\nX: " + b"a" * 20000 + b"\r\n\r\n", False),
    ],
)
def test_only_a_short_head_announcing_a_body_is_held(head: bytes, held: bool) -> None:
    assert _aiostream._holdable(head) is held


class _Transport(asyncio.Transport):
    """What ``_Protocol`` asks of an asyncio transport, recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.calls.append(f"limits {high}")

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


def test_reading_pauses_past_the_buffer_limit_and_resumes_once_drained() -> None:
    protocol = _aiosocket.Protocol(loop=None)  # type: ignore[arg-type]  # no waiting here
    transport = _Transport()
    protocol.connection_made(transport)
    assert transport.calls == ["limits 0"]  # a write ends when the kernel has it all
    chunk = b"x" * 65536
    for _ in range(5):  # 320 KiB: past the 256 KiB limit
        protocol.data_received(chunk)
    assert transport.calls[1:] == ["pause"]
    assert protocol.take(100_000) == b"x" * 100_000  # 220 KiB left: still paused
    assert transport.calls[1:] == ["pause"]
    assert len(protocol.take()) == 5 * 65536 - 100_000
    assert transport.calls[1:] == ["pause", "resume"]
    assert protocol.buffered == 0
    assert not protocol.chunks


def test_a_take_smaller_than_what_is_buffered_keeps_the_rest_in_order() -> None:
    protocol = _aiosocket.Protocol(loop=None)  # type: ignore[arg-type]
    protocol.connection_made(_Transport())
    for part in (b"abc", b"def", b"gh"):
        protocol.data_received(part)
    assert protocol.take(4) == b"abcd"
    assert protocol.take(10) == b"efgh"
    assert protocol.buffered == 0
