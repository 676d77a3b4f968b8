"""Transport-level behaviour: proxies resolved once, fork safety, operation names."""

from __future__ import annotations

import os
from typing import Any

import pytest
import responses

import soapguard
from servers.connect_proxy import ConnectProxy
from soapguard import Config
from soapguard.testing.ledger import LedgerServer
from soapguard.transport.operation import operation_name


def client_for(server: LedgerServer, ca_file: str) -> soapguard.Client:
    return soapguard.Client(server.wsdl_url, config=Config(ca_bundle=ca_file))


def test_https_proxy_variable_is_honoured(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        client = client_for(ledger, ca_file)
        assert client.service.GetBalance(account="1").account == "1"
        assert proxy.tunnels
        assert all(t == f"localhost:{ledger.port}" for t in proxy.tunnels)


def test_no_proxy_is_honoured(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost")
        client_for(ledger, ca_file).service.GetBalance(account="1")
        assert proxy.tunnels == []


def test_proxy_environment_is_read_once(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(ledger, ca_file)
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)  # after the transport was built
        client.service.GetBalance(account="1")
        assert proxy.tunnels == []


def test_trust_env_false_ignores_proxies(
    ledger: LedgerServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        client = soapguard.Client(
            ledger.wsdl_url, config=Config(ca_bundle=ca_file, trust_env=False)
        )
        client.service.GetBalance(account="1")
        assert proxy.tunnels == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_after_fork_uses_its_own_connection(ledger: LedgerServer, ca_file: str) -> None:
    client = client_for(ledger, ca_file)
    client.service.GetBalance(account="parent")
    assert ledger.connections_seen == 1  # WSDL load and call share one keep-alive connection
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report success through the pipe, never return into pytest
        code = 1
        try:
            ok = client.service.GetBalance(account="child").account == "child"
            code = 0 if ok else 1
        finally:
            os.write(write_end, bytes([code]))
            os._exit(code)
    os.close(write_end)
    status = os.read(read_end, 1)
    os.close(read_end)
    _, wait_status = os.waitpid(pid, 0)
    assert status == b"\x00"
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert ledger.connections_seen == 2  # the child opened its own
    client.service.GetBalance(account="parent-again")
    assert ledger.connections_seen == 2  # the parent's pooled connection is intact


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"SOAPAction": '"urn:soapguard:ledger#GetBalance"'}, "GetBalance"),
        ({"SOAPAction": "http://example.com/svc/Transfer"}, "Transfer"),
        ({"Content-Type": 'application/soap+xml; charset=utf-8; action="urn:x/Find"'}, "Find"),
        ({"SOAPAction": '""'}, "Body1"),
        ({}, "Body1"),
    ],
)
def test_operation_name(headers: dict[str, str], expected: str) -> None:
    envelope = (
        b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<e:Header/><e:Body><m:Body1 xmlns:m="urn:m"/></e:Body></e:Envelope>'
    )
    assert operation_name(headers, envelope) == expected


def test_operation_name_tolerates_garbage() -> None:
    assert operation_name({}, b"not xml") is None


def test_transport_accepts_a_users_session(ledger: LedgerServer, ca_file: str) -> None:
    import requests

    session = requests.Session()
    transport = soapguard.Transport(session=session, config=Config(ca_bundle=ca_file))
    assert transport.session is session
    client: Any = soapguard.Client(ledger.wsdl_url, transport=transport)
    assert client.service.GetBalance(account="1").account == "1"


ENVELOPE = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>'
SOAP_HEADERS = {"SOAPAction": '"urn:x#Op"', "Content-Type": "text/xml; charset=utf-8"}


def _transport() -> soapguard.Transport:
    return soapguard.Transport(config=Config(max_attempts=1))


@responses.activate
def test_lean_post_sends_what_session_post_would() -> None:
    responses.add(responses.POST, "https://svc.test/a?x=1", body=b"ok")
    transport = _transport()
    assert transport.post("https://svc.test/a?x=1", ENVELOPE, SOAP_HEADERS).content == b"ok"
    # a mock is active: prepared without Session.request, sent through Session.send
    assert transport.paths.snapshot() == {"lean": 0, "prepared": 1, "requests": 0}
    sent = responses.calls[0].request
    assert sent.headers["SOAPAction"] == '"urn:x#Op"'
    assert sent.headers["User-Agent"].startswith("Zeep/")  # zeep's session header kept
    assert sent.headers["Content-Length"] == str(len(ENVELOPE))
    assert sent.body == ENVELOPE


@responses.activate
def test_lean_post_follows_redirects_and_keeps_cookies() -> None:
    responses.add(
        responses.POST,
        "https://svc.test/old",
        status=307,
        headers={"Location": "https://svc.test/new", "Set-Cookie": "route=b; Path=/"},
    )
    responses.add(responses.POST, "https://svc.test/new", body=b"moved")
    transport = _transport()
    assert transport.post("https://svc.test/old", ENVELOPE, SOAP_HEADERS).content == b"moved"
    assert transport.session.cookies.get("route") == "b"
    # with a cookie in the jar the full requests path is used, and the cookie is sent
    transport.post("https://svc.test/new", ENVELOPE, SOAP_HEADERS)
    assert transport.paths.snapshot() == {"lean": 0, "prepared": 1, "requests": 1}
    assert responses.calls[-1].request.headers["Cookie"] == "route=b"


@responses.activate
def test_session_auth_takes_the_full_requests_path() -> None:
    responses.add(responses.POST, "https://svc.test/a", body=b"ok")
    transport = _transport()
    transport.session.auth = ("user", "pw")
    transport.post("https://svc.test/a", ENVELOPE, SOAP_HEADERS)
    assert transport.paths.snapshot() == {"lean": 0, "prepared": 0, "requests": 1}
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
