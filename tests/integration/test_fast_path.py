"""The lean path sends and returns exactly what requests' full path would.

``soapguard.Transport`` posts through soapguard's urllib3 pool directly (the lean path)
when nothing of the session, no proxy and no mock could make a difference. Each test
here runs the same exchange on the lean path and on requests' full path (forced by a
no-op session hook, which changes nothing on the wire) against a real TLS server on
loopback that records the raw request bytes, and checks which path each one took
(``Transport.paths``), so that a test cannot pass by both sides taking the same path.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import urllib3
from zeep.helpers import serialize_object

import soapguard
from faulty import BINDING
from servers.connect_proxy import ConnectProxy
from servers.recording import CANNED, RecordingServer
from soapguard import Config
from soapguard.testing import Fault, FaultProxy
from soapguard.testing.ledger import LedgerServer, wsdl_dir

pytestmark = pytest.mark.timeout(60)

WSDL = str(wsdl_dir() / "ledger.wsdl")
ENVELOPE = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>'
SOAP_HEADERS = {"SOAPAction": '"urn:x#Op"', "Content-Type": "text/xml; charset=utf-8"}


def _noop(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A session hook that changes nothing, so the session takes requests' full path."""


@pytest.fixture
def server(server_ssl_context: Callable[..., ssl.SSLContext]) -> Iterator[RecordingServer]:
    with RecordingServer(server_ssl_context()) as recording:
        yield recording


def _pair(ca_file: str, **config: Any) -> tuple[soapguard.Transport, soapguard.Transport]:
    """(lean, full): two transports alike but for a no-op hook on the second's session."""
    lean = soapguard.Transport(config=Config(ca_bundle=ca_file, max_attempts=1, **config))
    full = soapguard.Transport(config=Config(ca_bundle=ca_file, max_attempts=1, **config))
    full.session.hooks["response"].append(_noop)
    return lean, full


def _paths(transport: soapguard.Transport) -> dict[str, int]:
    return {k: v for k, v in transport.paths.snapshot().items() if v}


# -- the request on the wire ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("userinfo", "session_headers", "call_headers"),
    [
        ("", {}, {}),
        ("alice:s3cret%21@", {}, {}),  # URL credentials become Basic auth
        ("", {"Accept": None, "X-Session": "1"}, {}),  # None drops a session header
        ("", {}, {"user-agent": "Custom/1", "Content-Length": "999"}),  # overridden, any case
    ],
    ids=["plain", "url-credentials", "session-headers", "call-overrides"],
)
def test_lean_and_full_paths_send_the_same_bytes(
    server: RecordingServer,
    ca_file: str,
    userinfo: str,
    session_headers: dict[str, Any],
    call_headers: dict[str, str],
) -> None:
    lean, full = _pair(ca_file)
    url = server.url("/svc?x=1", userinfo=userinfo)
    for transport in (lean, full):
        transport.session.headers.update(session_headers)
        response = transport.post(url, ENVELOPE, {**SOAP_HEADERS, **call_headers})
        assert response.status_code == 200
    assert _paths(lean) == {"lean": 1}
    assert _paths(full) == {"requests": 1}
    sent_lean, sent_full = server.requests
    assert sent_lean == sent_full
    head = sent_lean.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert head.startswith("post /svc?x=1 http/1.1")
    assert f"host: 127.0.0.1:{server.port}" in head
    assert f"content-length: {len(ENVELOPE)}" in head
    assert 'soapaction: "urn:x#op"' in head
    assert sent_lean.endswith(ENVELOPE)
    assert ("authorization: basic " in head) == bool(userinfo)


def test_a_soapguard_client_call_takes_the_lean_path_with_the_same_bytes(
    server: RecordingServer, ca_file: str
) -> None:
    lean = soapguard.Client(WSDL, config=Config(ca_bundle=ca_file))
    full = soapguard.Client(WSDL, config=Config(ca_bundle=ca_file))
    full.transport.session.hooks["response"].append(_noop)
    results = [
        client.create_service(BINDING, server.url("/ledger")).GetBalance(account="42")
        for client in (lean, full)
    ]
    assert serialize_object(results[0]) == serialize_object(results[1])  # type: ignore[no-untyped-call]
    assert str(results[0].balance) == "1234.56"
    assert _paths(lean.transport) == {"lean": 1}
    assert _paths(full.transport) == {"requests": 1}
    assert server.requests[0] == server.requests[1]


# -- the response zeep sees ----------------------------------------------------------------------


def _facts(response: requests.Response, transport: soapguard.Transport) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "reason": response.reason,
        "headers": dict(response.headers),
        "content": response.content,
        "text": response.text,
        "encoding": response.encoding,
        "url": response.url,
        "cookies": response.cookies.get_dict(),
        "session cookies": transport.session.cookies.get_dict(),
        "history": response.history,
        "request url": response.request.url,
        "request headers": dict(response.request.headers),
        "request body": response.request.body,
        "raw": type(response.raw),
        "raw read": response.raw.tell(),
        "connection is the adapter": response.connection is transport.adapter,
        "elapsed positive": response.elapsed.total_seconds() > 0,
    }


def test_lean_and_full_paths_return_the_same_response(
    server: RecordingServer, ca_file: str
) -> None:
    lean, full = _pair(ca_file)
    body = "<r>caf\u00e9</r>".encode("iso-8859-1")
    headers = [
        ("Content-Type", "text/xml; charset=iso-8859-1"),
        ("Set-Cookie", "route=a; Path=/"),
        ("X-Extra", "1"),
    ]
    facts = []
    for transport in (lean, full):
        server.reply(200, headers, body, reason="Fine")
        response = transport.post(server.url(), ENVELOPE, SOAP_HEADERS)
        facts.append(_facts(response, transport))
    assert _paths(lean) == {"lean": 1}
    assert _paths(full) == {"requests": 1}
    assert facts[0] == facts[1]
    assert facts[0]["text"] == "<r>caf\u00e9</r>"
    assert facts[0]["session cookies"] == {"route": "a"}
    assert facts[0]["raw"] is urllib3.HTTPResponse
    assert facts[0]["raw read"] == len(body)  # not streamed: the body was read at once
    # a cookie in the jar sends the next call down the full path, which returns it
    lean.post(server.url(), ENVELOPE, SOAP_HEADERS)
    assert _paths(lean) == {"lean": 1, "requests": 1}
    assert b"\r\nCookie: route=a\r\n" in server.requests[-1]


# -- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "same_origin", "followed"),
    [(307, True, True), (308, True, True), (302, True, False), (301, True, False),
     (307, False, False)],
)  # fmt: skip
def test_redirects_follow_the_same_rule_on_both_paths(
    server: RecordingServer, ca_file: str, status: int, same_origin: bool, followed: bool
) -> None:
    lean, full = _pair(ca_file)
    where = server.url("/moved") if same_origin else f"https://127.0.0.1:{server.port + 1}/moved"
    outcomes: list[Any] = []
    for transport in (lean, full):
        server.reply(status, [("Location", where), ("Set-Cookie", "hop=1; Path=/")])
        if followed:
            server.reply(200, [("Content-Type", "text/xml")], b"<moved/>")
        try:
            response = transport.post(server.url("/old"), ENVELOPE, SOAP_HEADERS)
            outcomes.append(
                (response.content, response.url, [r.status_code for r in response.history])
            )
        except Exception as exc:
            outcomes.append((type(exc), str(exc)))
        assert transport.session.cookies.get_dict() == ({"hop": "1"} if followed else {})
    assert _paths(lean) == {"lean": 1}
    assert _paths(full) == {"requests": 1}
    assert outcomes[0] == outcomes[1]
    if followed:
        assert outcomes[0] == (b"<moved/>", server.url("/moved"), [status])
        assert len(server.requests) == 4
        assert server.requests[1] == server.requests[3]  # the redirected POST, body and all
        assert server.requests[1].endswith(ENVELOPE)
        assert b"\r\nCookie: hop=1\r\n" in server.requests[1]
    else:
        assert "not followed" in str(outcomes[0][1])
        assert len(server.requests) == 2


# -- what must take requests' full path ----------------------------------------------------------


def test_a_users_plain_session_takes_the_lean_path(server: RecordingServer, ca_file: str) -> None:
    session = requests.Session()
    session.trust_env = False
    transport = soapguard.Transport(session=session, config=Config(ca_bundle=ca_file))
    transport.post(server.url(), ENVELOPE, SOAP_HEADERS)
    assert _paths(transport) == {"lean": 1}


@pytest.mark.parametrize("what", ["auth", "cookies", "hooks", "trust_env", "params"])
def test_a_users_session_with_settings_takes_the_full_path_and_keeps_them(
    server: RecordingServer, ca_file: str, what: str
) -> None:
    seen: list[int] = []
    session = requests.Session()
    session.trust_env = what == "trust_env"
    if what == "auth":
        session.auth = ("bob", "pw")
    elif what == "cookies":
        session.cookies.set("sid", "abc")
    elif what == "hooks":
        session.hooks["response"].append(lambda r, *a, **k: seen.append(r.status_code))
    elif what == "params":
        session.params = {"tenant": "7"}
    transport = soapguard.Transport(session=session, config=Config(ca_bundle=ca_file))
    assert transport.post(server.url(), ENVELOPE, SOAP_HEADERS).status_code == 200
    assert _paths(transport) == {"requests": 1}
    sent = server.requests[-1]
    if what == "auth":
        assert b"\r\nAuthorization: Basic Ym9iOnB3\r\n" in sent
    elif what == "cookies":
        assert b"\r\nCookie: sid=abc\r\n" in sent
    elif what == "hooks":
        assert seen == [200]
    elif what == "params":
        assert sent.startswith(b"POST /svc?tenant=7 HTTP/1.1\r\n")


def test_a_users_session_proxy_takes_the_full_path_through_the_proxy(
    server: RecordingServer, ca_file: str
) -> None:
    session = requests.Session()
    session.trust_env = False
    with ConnectProxy() as proxy:
        session.proxies = {"https": proxy.url}
        transport = soapguard.Transport(session=session, config=Config(ca_bundle=ca_file))
        assert transport.post(server.url(), ENVELOPE, SOAP_HEADERS).status_code == 200
        assert proxy.tunnels == [f"127.0.0.1:{server.port}"]
    assert _paths(transport) == {"requests": 1}


def test_https_proxy_from_the_environment_is_not_lean_and_is_used(
    server: RecordingServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        transport = soapguard.Transport(config=Config(ca_bundle=ca_file))
        assert transport.post(server.url(), ENVELOPE, SOAP_HEADERS).status_code == 200
        assert proxy.tunnels == [f"127.0.0.1:{server.port}"]
    assert _paths(transport) == {"prepared": 1}
    assert server.requests[0].endswith(ENVELOPE)


def test_a_streaming_session_is_not_lean(server: RecordingServer, ca_file: str) -> None:
    transport = soapguard.Transport(config=Config(ca_bundle=ca_file))
    transport.session.stream = True
    response = transport.post(server.url(), ENVELOPE, SOAP_HEADERS)
    assert _paths(transport) == {"prepared": 1}
    assert response.raw.tell() == 0  # streamed: nothing read until asked
    assert response.content == CANNED


def test_mocks_intercept_and_the_lean_path_resumes_after_them(
    server: RecordingServer, ca_file: str
) -> None:
    import requests_mock
    import responses

    client = soapguard.Client(WSDL, config=Config(ca_bundle=ca_file))
    service = client.create_service(BINDING, server.url("/ledger"))
    assert service.GetBalance(account="42").account == "42"
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, server.url("/ledger"), body=CANNED.replace(b">42<", b">7<"))
        assert service.GetBalance(account="7").account == "7"
        assert len(mocked.calls) == 1
    with requests_mock.Mocker() as mocker:
        mocker.post(server.url("/ledger"), content=CANNED.replace(b">42<", b">8<"))
        assert service.GetBalance(account="8").account == "8"
        assert mocker.call_count == 1
    assert service.GetBalance(account="42").account == "42"
    assert _paths(client.transport) == {"lean": 2, "prepared": 2}
    assert len(server.requests) == 2  # the mocked calls never reached the server


# -- failures: the same exception and the same evidence on both paths ---------------------------

#: event fields that depend on timing, ports or randomness rather than on what happened
_VARYING = {
    "timestamp", "duration_ms", "url.full", "server.port", "process.pid", "connection.idle_ms",
    "connection.age_ms", "backoff_ms", "attempts", "tls.recent_records_in", "error.message",
    "hint",
}  # fmt: skip


def _report(exc: BaseException) -> dict[str, Any]:
    report = getattr(exc, "report", {})
    return {k: v for k, v in report.items() if k not in _VARYING}


@pytest.mark.parametrize(
    ("fault", "warm"),
    [
        (Fault.rst_after_request(), False),
        (Fault.flip_response_record(n=1), False),
        (Fault.parse("close-mid-body:40"), True),
        (Fault.parse("stall:5"), True),
    ],
    ids=["reset-after-request", "bad-record-mac", "close-mid-body-reused", "read-timeout-reused"],
)
def test_failures_raise_and_report_the_same_on_both_paths(
    make_ledger: Callable[..., LedgerServer], ca_file: str, fault: Fault, warm: bool
) -> None:
    ledger = make_ledger()
    config = Config(ca_bundle=ca_file, max_attempts=1, read_timeout=0.5)
    outcomes = []
    with FaultProxy(upstream=("127.0.0.1", ledger.port), lifetime=60) as proxy:
        for full in (False, True):
            client = soapguard.Client(ledger.wsdl_url, config=config)
            if full:
                client.transport.session.hooks["response"].append(_noop)
            service = client.create_service(BINDING, f"https://127.0.0.1:{proxy.port}/ledger")
            if warm:  # a kept-alive connection, so the fault meets a reused one
                service.GetBalance(account="1")
            proxy.add_fault(fault)
            request_id = "full" if full else "lean"  # the same length: the same bytes_sent
            with pytest.raises(Exception) as info:
                service.Transfer(fromAccount="1", toAccount="2", amount="5", requestId=request_id)
            outcomes.append((type(info.value), _report(info.value)))
            assert _paths(client.transport) == (
                {"requests": 1 + warm} if full else {"lean": 1 + warm}
            )
    (lean_type, lean_report), (full_type, full_report) = outcomes
    assert lean_type is full_type
    assert lean_report == full_report
    assert lean_report["request_sent"] == "full"
    assert lean_report["connection.reused"] is warm
