"""HTTP behaviours the fast path must keep, and the redirect rule.

Credentials in the endpoint URL, ``session.auth`` and cookies behave as with zeep
(on a requests session).  Redirects are a deliberate difference from zeep: only
307/308 to the same scheme, host and port are followed; anything else raises
``http.status`` naming where it pointed, and is never retried.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import zeep

import soapguard
from faulty import BINDING
from soapguard import Config
from soapguard.testing.ledger import LedgerServer

pytestmark = pytest.mark.timeout(60)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _service(client: Any, url: str) -> Any:
    return client.create_service(BINDING, url)


def _with_credentials(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def test_url_credentials_are_sent_as_basic_auth_like_zeep(
    ledger: LedgerServer, ca_file: str
) -> None:
    url = _with_credentials(ledger.url, "svcuser", "s3cret")
    client = soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file))
    _service(client, url).GetBalance(account="42")
    plain = zeep.Client(ledger.wsdl_url, transport=zeep.Transport(session=_verified(ca_file)))
    _service(plain, url).GetBalance(account="42")
    sent = [h.get("Authorization") for h in ledger.request_headers]
    assert sent == [_basic("svcuser", "s3cret")] * 2


def _verified(ca_file: str) -> requests.Session:
    session = requests.Session()
    session.verify = ca_file
    return session


def test_session_auth_is_sent(ledger: LedgerServer, ca_file: str) -> None:
    session = requests.Session()
    session.auth = ("alice", "pw")
    transport = soapguard.Transport(session=session, config=Config(ca_bundle=ca_file))
    client = soapguard.Client(ledger.wsdl_url, transport=transport)
    _service(client, ledger.url).GetBalance(account="42")
    assert ledger.request_headers[-1].get("Authorization") == _basic("alice", "pw")


def test_session_cookies_are_sent(ledger: LedgerServer, ca_file: str) -> None:
    session = requests.Session()
    session.cookies.set("JSESSIONID", "abc123")
    transport = soapguard.Transport(session=session, config=Config(ca_bundle=ca_file))
    client = soapguard.Client(ledger.wsdl_url, transport=transport)
    _service(client, ledger.url).GetBalance(account="42")
    assert ledger.request_headers[-1].get("Cookie") == "JSESSIONID=abc123"


def test_netrc_is_never_consulted(
    ledger: LedgerServer, ca_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine localhost login netrcuser password netrcpass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    client = soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file))
    _service(client, ledger.url).GetBalance(account="42")
    assert "Authorization" not in ledger.request_headers[-1]


ENVELOPE = (
    b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<soap:Body><tns:GetBalanceResponse xmlns:tns="urn:soapguard:ledger"><tns:account>42'
    b"</tns:account><tns:balance>1.00</tns:balance><tns:currency>EUR</tns:currency>"
    b"</tns:GetBalanceResponse></soap:Body></soap:Envelope>"
)


def test_response_cookies_are_kept_for_the_next_call(ledger: LedgerServer, ca_file: str) -> None:
    client = soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file))
    url = "https://soap.example/ledger"
    with responses.RequestsMock() as mock:
        mock.post(url, body=ENVELOPE, headers={"Set-Cookie": "route=a1; Path=/"})
        mock.post(url, body=ENVELOPE)
        service = _service(client, url)
        service.GetBalance(account="42")
        service.GetBalance(account="42")
        assert mock.calls[1].request.headers.get("Cookie") == "route=a1"


# -- redirects -------------------------------------------------------------------------------


@pytest.fixture
def client(ledger: LedgerServer, ca_file: str) -> Callable[..., Any]:
    def make(**cfg: Any) -> Any:
        config = Config(ca_bundle=ca_file, backoff_initial=0.001, backoff_max=0.002, **cfg)
        return soapguard.Client(ledger.wsdl_url, config=config)

    return make


def _transfer(service: Any, request_id: str) -> Any:
    return service.Transfer(fromAccount="1", toAccount="2", amount=Decimal(5), requestId=request_id)


def test_a_307_to_the_same_origin_is_followed(ledger: LedgerServer, client: Any) -> None:
    ledger.fail_next(307, body=b"", headers={"Location": ledger.url})
    _transfer(_service(client(), ledger.url), "r307")
    assert ledger.requests_seen == 2
    assert ledger.executions("r307") == 1


def test_a_308_with_a_relative_location_is_followed(ledger: LedgerServer, client: Any) -> None:
    ledger.fail_next(308, body=b"", headers={"Location": "/ledger"})
    assert _service(client(), ledger.url).GetBalance(account="42").account == "42"


def test_a_307_to_plain_http_is_refused_and_sends_nothing_there(
    ledger: LedgerServer, make_ledger: Callable[..., LedgerServer], client: Any
) -> None:
    plain = make_ledger(tls=False)
    ledger.fail_next(307, body=b"", headers={"Location": plain.url})
    events: list[dict[str, Any]] = []
    with pytest.raises(requests.exceptions.HTTPError) as info:
        _transfer(_service(client(on_event=events.append), ledger.url), "to-http")
    assert plain.requests_seen == 0
    report = info.value.report  # type: ignore[attr-defined]
    assert report["error.type"] == "http.status"
    assert report["http.response.status_code"] == 307
    assert len(report["attempts"]) == 1
    assert plain.url in str(info.value)
    assert plain.url in report["hint"]
    assert report["http.response.header.location"] == plain.url
    assert events[-1]["event"] == "soapguard.call_failed"


def test_a_307_to_another_host_or_port_is_refused(
    ledger: LedgerServer, make_ledger: Callable[..., LedgerServer], client: Any
) -> None:
    other = make_ledger()
    ledger.fail_next(307, body=b"", headers={"Location": other.url})
    with pytest.raises(requests.exceptions.HTTPError):
        _service(client(idempotent_operations=("Get*",)), ledger.url).GetBalance(account="42")
    assert other.requests_seen == 0
    assert ledger.requests_seen == 1  # and not retried, even for a read


@pytest.mark.parametrize("status", [301, 302, 303])
def test_other_redirects_are_never_followed(ledger: LedgerServer, client: Any, status: int) -> None:
    ledger.fail_next(status, body=b"", headers={"Location": ledger.url})
    with pytest.raises(requests.exceptions.HTTPError) as info:
        _service(client(idempotent_operations=("Get*",)), ledger.url).GetBalance(account="42")
    assert ledger.requests_seen == 1
    assert info.value.report["decision_reason"] == "non_retryable"  # type: ignore[attr-defined]


def test_a_wsdl_redirect_from_https_to_http_is_refused(
    ledger: LedgerServer, make_ledger: Callable[..., LedgerServer], ca_file: str
) -> None:
    plain = make_ledger(tls=False)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(plain.url.split("/ledger")[0])
        mock.get("https://wsdl.example/svc?wsdl", status=302, headers={"Location": plain.wsdl_url})
        with pytest.raises(requests.RequestException, match="https to http"):
            soapguard.Client("https://wsdl.example/svc?wsdl", config=Config(ca_bundle=ca_file))
    assert plain.connections_seen == 0
