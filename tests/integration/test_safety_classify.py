"""Classifications that used to cause wrong retries or wrong advice."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
import zeep.exceptions

import soapguard
from faulty import BINDING
from servers.connect_proxy import ConnectProxy
from soapguard import Config
from soapguard.classify import classify
from soapguard.diagnostics.hints import hint_for
from soapguard.testing.ledger import LedgerServer

pytestmark = pytest.mark.timeout(60)

FAST = {"backoff_initial": 0.001, "backoff_max": 0.002}


def _client(ledger: LedgerServer, ca_file: str, **cfg: Any) -> Any:
    config = Config(ca_bundle=ca_file, **{**FAST, **cfg})
    return soapguard.Client(ledger.wsdl_url, config=config)


def _transfer(service: Any, request_id: str) -> Any:
    return service.Transfer(fromAccount="1", toAccount="2", amount=Decimal(5), requestId=request_id)


# -- an HTTPS proxy that refuses the tunnel ------------------------------------------------------


def _own_tunnel(client: Any, ledger: LedgerServer) -> Any:
    """The service at 127.0.0.1 (the WSDL came from localhost): a pool, and a tunnel, of its own."""
    return client.create_service(BINDING, f"https://127.0.0.1:{ledger.port}/ledger")


def test_a_proxy_502_on_connect_sent_nothing_and_is_retried_even_for_a_write(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[dict[str, Any]] = []
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        service = _own_tunnel(_client(ledger, ca_file, on_event=events.append), ledger)
        proxy.refusals.append("502 Bad Gateway")
        _transfer(service, "via-proxy")
    assert ledger.executions("via-proxy") == 1
    first = events[0]
    assert (first["error.type"], first["http.response.status_code"]) == ("http.status", 502)
    assert (first["request_sent"], first["phase"]) == ("none", "connect")
    assert (first["decision"], first["decision_reason"]) == ("retry", "not_sent")


def test_a_proxy_407_is_never_retried_and_says_the_proxy_wants_credentials(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        client = _client(ledger, ca_file, idempotent_operations=("Get*",))
        service = _own_tunnel(client, ledger)
        proxy.refusals.extend(["407 Proxy Authentication Required"] * 3)
        with pytest.raises(requests.exceptions.ProxyError) as info:
            service.GetBalance(account="42")
        assert len(proxy.tunnels) == 2  # the WSDL's, then the call's single attempt
    report = info.value.report  # type: ignore[attr-defined]
    assert (report["error.type"], report["http.response.status_code"]) == ("http.status", 407)
    assert report["request_sent"] == "none"
    assert report["decision_reason"] == "non_retryable"
    assert "HTTPS_PROXY" in report["hint"]
    assert "credentials" in report["hint"]


# -- the deadline ------------------------------------------------------------------------------


def test_a_deadline_that_expires_before_the_first_attempt_sent_nothing(
    ledger: LedgerServer, ca_file: str
) -> None:
    service = _client(ledger, ca_file, deadline=1e-9).service
    with pytest.raises(requests.exceptions.Timeout) as info:
        _transfer(service, "too-late")
    report = info.value.report  # type: ignore[attr-defined]
    assert report["error.type"] == "timeout.deadline"
    assert report["request_sent"] == "none"
    assert report["outcome"] == "failed"
    assert ledger.requests_seen == 0


# -- a peer that ignores the record cap it agreed to --------------------------------------------


def _ssl_error(reason: str, text: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] {text} (_ssl.c:2580)")
    exc.library, exc.reason = "SSL", reason
    return exc


def test_a_record_larger_than_the_negotiated_cap_is_named_and_explained() -> None:
    failure = classify(_ssl_error("DATA_LENGTH_TOO_LONG", "data length too long"))
    assert failure.type == "tls.record_overflow"
    assert failure.origin == "local"
    event = {
        "error.type": failure.type,
        "error.origin": failure.origin,
        "tls.max_fragment_length": 1024,
        "tls.largest_record_in": 16401,
    }
    hint = hint_for(event) or ""
    assert "ignores" in hint
    assert "SOAPGUARD_MAX_RECORD_SIZE" in hint


# -- deterministic local handshake failures ------------------------------------------------------


@pytest.fixture
def bogus_tls_server() -> Iterator[tuple[int, list[int]]]:
    """Answers every ClientHello with a malformed handshake record; counts connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            with conn:
                conn.recv(4096)
                conn.sendall(b"\x16\x03\x03\x00\x05hello")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    listener.close()
    thread.join(5)


def test_a_malformed_handshake_from_the_peer_is_not_retried(
    bogus_tls_server: tuple[int, list[int]],
) -> None:
    port, accepted = bogus_tls_server
    transport = soapguard.Transport(config=Config(**FAST))
    with pytest.raises(requests.exceptions.SSLError) as info:
        transport.post(f"https://127.0.0.1:{port}/svc", b"<a/>", {"SOAPAction": "Transfer"})
    report = info.value.report  # type: ignore[attr-defined]
    assert report["request_sent"] == "none"
    assert report["decision_reason"] == "non_retryable"
    assert len(accepted) == 1


def test_plain_http_on_a_tls_port_is_not_retried(make_ledger: Any) -> None:
    plain = make_ledger(tls=False)
    transport = soapguard.Transport(config=Config(**FAST))
    with pytest.raises(requests.exceptions.SSLError) as info:
        transport.post(f"https://127.0.0.1:{plain.port}/ledger", b"<a/>", {})
    report = info.value.report  # type: ignore[attr-defined]
    assert report["error.type"] == "tls.protocol_version"
    assert f"127.0.0.1:{plain.port} did not speak TLS" in report["hint"]
    assert plain.connections_seen == 1


# -- a response that is refused by zeep's XML safety settings ------------------------------------

ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "boom">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body>&e;</soap:Body></soap:Envelope>"
)


def test_a_response_with_entities_is_response_invalid_with_a_report(
    ledger: LedgerServer, ca_file: str
) -> None:
    events: list[dict[str, Any]] = []
    client = _client(ledger, ca_file, on_event=events.append, idempotent_operations=("Get*",))
    service = client.create_service(BINDING, ledger.url)
    ledger.fail_next(200, body=ENTITY_BOMB, headers={"Content-Type": "text/xml"})
    with pytest.raises(zeep.exceptions.Error) as info:
        service.GetBalance(account="42")
    report = info.value.report  # type: ignore[attr-defined]
    assert report["error.type"] == "response.invalid"
    assert report["decision_reason"] == "non_retryable"
    assert [e["event"] for e in events] == ["soapguard.attempt_failed", "soapguard.call_failed"]
