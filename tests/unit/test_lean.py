"""The lean path's pieces against requests' own code (no sockets).

* :func:`soapguard.transport.lean.prepare` gives the request ``Session.prepare_request``
  gives, header order and spelling included;
* :func:`soapguard.transport.lean.as_requests_error` maps every urllib3 failure the way
  requests' own ``HTTPAdapter.send`` maps it (driven for real, with a pool that raises);
* ``responses`` and ``requests_mock`` intercept a ``soapguard.Client`` call, which then
  takes requests' path, never the lean one.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import requests_mock
import responses
import urllib3.exceptions as u3
from requests.adapters import HTTPAdapter

import soapguard
from soapguard import Config
from soapguard.testing.ledger import wsdl_dir
from soapguard.transport import lean

URL = "https://svc.test:8443/a/b?x=1&y=%20z"
BODY = b"<Envelope/>"
BINDING = "{urn:soapguard:ledger}LedgerSoapBinding"
CANNED = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<tns:GetBalanceResponse xmlns:tns="urn:soapguard:ledger"><tns:account>9</tns:account>'
    b"<tns:balance>1.00</tns:balance><tns:currency>EUR</tns:currency>"
    b"</tns:GetBalanceResponse></soap:Body></soap:Envelope>"
)


def _session(headers: dict[str, Any]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers.update(headers)
    return session


@pytest.mark.parametrize(
    ("url", "session_headers", "call_headers", "body"),
    [
        (URL, {}, {"SOAPAction": '"x"', "Content-Type": "text/xml"}, BODY),
        ("https://u%40x:p%3Aw@svc.test/a", {}, {"SOAPAction": "y"}, BODY),
        (URL, {"Accept": None, "X-S": "1"}, {"x-s": "2", "X-New": "n"}, BODY),
        (URL, {"Content-Length": "5"}, {"authorization": "Bearer t"}, BODY),
        ("https://u:p@svc.test/", {}, {"Authorization": "Bearer t"}, BODY),
        (URL, {"User-Agent": None}, {"User-Agent": "mine"}, "caf\u00e9 text"),
        (URL, {}, {}, b""),
        ("https://B\u00fccher.example/p\u00e4th", {}, {}, BODY),
    ],
    ids=["plain", "url-credentials", "merge-and-drop", "length-and-auth-kept-in-place",
         "url-credentials-win", "none-then-set", "empty-body", "idna-and-quoting"],
)  # fmt: skip
def test_prepare_gives_what_session_prepare_request_gives(
    url: str, session_headers: dict[str, Any], call_headers: dict[str, Any], body: Any
) -> None:
    session = _session(session_headers)
    expected = session.prepare_request(
        requests.Request("POST", url, data=body, headers=call_headers)
    )
    target = lean.LeanTarget(url)
    prepared, wire = lean.prepare(session, target, body, call_headers, lean.HeaderCheck())
    assert prepared.method == expected.method
    assert prepared.url == expected.url
    assert prepared.body == expected.body
    assert list(prepared.headers.items()) == list(expected.headers.items())
    assert list(wire.items()) == list(expected.headers.items())
    assert target.path == expected.path_url


def test_prepare_refuses_an_invalid_header_as_requests_does() -> None:
    session = _session({})
    bad = {"X-Bad": "a\r\nInjected: 1"}
    with pytest.raises(requests.exceptions.InvalidHeader):
        session.prepare_request(requests.Request("POST", URL, data=BODY, headers=bad))
    with pytest.raises(requests.exceptions.InvalidHeader):
        lean.prepare(session, lean.LeanTarget(URL), BODY, bad, lean.HeaderCheck())


class _RaisingPool:
    """A urllib3 pool whose urlopen raises ``error`` (what requests' adapter then maps)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def urlopen(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


class _Adapter(HTTPAdapter):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.pool = _RaisingPool(error)

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
        return self.pool


def _errors() -> list[BaseException]:
    pool: Any = None
    return [
        u3.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
        ConnectionResetError(104, "reset"),
        OSError("plain"),
        u3.MaxRetryError(pool, "/", u3.ConnectTimeoutError(pool, "slow")),
        u3.MaxRetryError(pool, "/", u3.NewConnectionError(pool, "refused")),
        u3.MaxRetryError(pool, "/", u3.ResponseError("too many")),
        u3.MaxRetryError(pool, "/", u3.ProxyError("proxy", OSError("x"))),
        u3.MaxRetryError(pool, "/", u3.SSLError("bad mac")),
        u3.MaxRetryError(pool, "/", u3.ProtocolError("other")),
        u3.ClosedPoolError(pool, "closed"),
        u3.ProxyError("proxy", OSError("x")),
        u3.SSLError("bad mac"),
        u3.ReadTimeoutError(pool, "/", "read timed out"),
        u3.InvalidHeader("bad header"),
        u3.EmptyPoolError(pool, "no connection"),
        u3.LocationParseError("bad"),
        ValueError("not urllib3's"),
    ]


@pytest.mark.parametrize("error", _errors(), ids=lambda e: type(e).__name__)
def test_errors_are_mapped_as_requests_adapter_maps_them(error: BaseException) -> None:
    request = requests.Request("POST", URL, data=BODY).prepare()
    with pytest.raises(BaseException) as info:
        _Adapter(error).send(request)
    expected = info.value
    mapped = lean.as_requests_error(error, request)
    assert type(mapped) is type(expected)
    assert mapped.args == expected.args
    assert getattr(mapped, "request", None) is getattr(expected, "request", None)


def _service() -> Any:
    client = soapguard.Client(str(wsdl_dir() / "ledger.wsdl"), config=Config(max_attempts=1))
    return client, client.create_service(BINDING, "https://svc.test/ledger")


@responses.activate
def test_responses_intercepts_a_client_call() -> None:
    responses.add(responses.POST, "https://svc.test/ledger", body=CANNED)
    client, service = _service()
    assert service.GetBalance(account="9").account == "9"
    assert len(responses.calls) == 1
    assert client.transport.paths.snapshot()["lean"] == 0


def test_requests_mock_intercepts_a_client_call() -> None:
    client, service = _service()
    with requests_mock.Mocker() as mocker:
        mocker.post("https://svc.test/ledger", content=CANNED)
        assert service.GetBalance(account="9").account == "9"
        assert mocker.call_count == 1
    assert client.transport.paths.snapshot()["lean"] == 0


def test_requests_mock_on_one_session_intercepts_it() -> None:
    client, service = _service()
    with requests_mock.Mocker(session=client.transport.session) as mocker:
        mocker.post("https://svc.test/ledger", content=CANNED)
        assert service.GetBalance(account="9").account == "9"
        assert mocker.call_count == 1
    assert client.transport.paths.snapshot()["lean"] == 0


def test_a_mock_active_before_the_originals_were_learnt_keeps_the_path_full() -> None:
    saved = lean._ORIGINALS.codes
    lean._ORIGINALS.codes = None  # as in a process whose first call runs under a mock
    try:
        with responses.RequestsMock() as mocked:
            mocked.add(responses.POST, "https://svc.test/ledger", body=CANNED)
            client, service = _service()
            assert lean.lean_ready(client.transport.session, client.transport.adapter) is False
            assert lean._ORIGINALS.codes is None  # nothing learnt from a mocked requests
            service.GetBalance(account="9")
            assert client.transport.paths.snapshot()["lean"] == 0
        assert lean.lean_ready(client.transport.session, client.transport.adapter) is True
    finally:
        lean._ORIGINALS.codes = saved
