"""The drop-in client over real loopback TLS: zeep's behaviour, soapguard's transport."""

from __future__ import annotations

import decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import requests_mock
import responses
import trustme
import zeep
import zeep.exceptions

import soapguard
from soapguard import Config
from soapguard.client import GuardedServiceProxy
from soapguard.testing.ledger import LedgerServer, wsdl_dir

WSDL_DIR = wsdl_dir()


def client_for(server: LedgerServer, ca_file: str, **cfg: Any) -> soapguard.Client:
    return soapguard.Client(server.wsdl_url, config=Config(ca_bundle=ca_file, **cfg))


def test_is_a_zeep_client(ledger: LedgerServer, ca_file: str) -> None:
    client = client_for(ledger, ca_file)
    assert isinstance(client, zeep.Client)
    assert isinstance(client.transport, soapguard.Transport)
    assert isinstance(client.transport, zeep.Transport)
    assert isinstance(client.service, GuardedServiceProxy)


def test_calls_over_real_tls(ledger: LedgerServer, ca_file: str) -> None:
    client = client_for(ledger, ca_file)
    balance = client.service.GetBalance(account="42")
    assert balance.account == "42"
    assert isinstance(balance.balance, decimal.Decimal)
    result = client.service.Transfer(
        fromAccount="1", toAccount="2", amount=decimal.Decimal("10.50"), requestId="t-1"
    )
    assert result.transferId
    assert ledger.executions("t-1") == 1


def test_large_response(ledger: LedgerServer, ca_file: str) -> None:
    client = client_for(ledger, ca_file)
    with client.settings(raw_response=True):
        raw = client.service.GetStatement(account="42", lines=3000)
    assert len(raw.content) > 200_000
    statement = client.service.GetStatement(account="42", lines=3000)
    assert len(statement.entry) == 3000


def test_soap_fault_is_zeeps_fault_with_a_report(ledger: LedgerServer, ca_file: str) -> None:
    client = client_for(ledger, ca_file, idempotent_operations=("*",))
    with pytest.raises(zeep.exceptions.Fault) as info:
        client.service.Reject(reason="no such account")
    assert "no such account" in info.value.message
    report = info.value.report  # type: ignore[attr-defined]
    assert report["error.type"] == "soap.fault"
    assert len(report["attempts"]) == 1  # never retried, even when idempotent
    assert ledger.executions_total("Reject") == 1


def test_soap12_binding(make_ledger: Any, ca_file: str) -> None:
    server = make_ledger(soap12=True)
    client = client_for(server, ca_file)
    assert client.service.GetBalance(account="7").account == "7"


def test_wsdl_importing_an_xsd(ledger: LedgerServer, ca_file: str) -> None:
    url = ledger.url.rsplit("/", 1)[0] + "/ledger-imported.wsdl"
    client = soapguard.Client(url, config=Config(ca_bundle=ca_file))
    service = client.create_service(_binding_qname(client), ledger.url)
    assert isinstance(service, GuardedServiceProxy)
    assert service.GetBalance(account="9").account == "9"


def _binding_qname(client: zeep.Client) -> str:
    return str(next(iter(client.wsdl.bindings)))


def test_bind_returns_guarded_proxy(ledger: LedgerServer, ca_file: str) -> None:
    client = client_for(ledger, ca_file)
    service = client.bind("LedgerService", "LedgerPort")
    assert isinstance(service, GuardedServiceProxy)
    assert service.GetBalance(account="1").account == "1"


def test_context_manager_closes_the_transport(ledger: LedgerServer, ca_file: str) -> None:
    with client_for(ledger, ca_file) as client:
        client.service.GetBalance(account="1")
    assert not client.transport.adapter.poolmanager.pools.keys()


def test_zeep_api_surface(ledger: LedgerServer, ca_file: str) -> None:
    client = client_for(ledger, ca_file)
    message = client.create_message(client.service, "GetBalance", account="5")
    assert message.tag.endswith("Envelope")
    client.set_ns_prefix("led", "urn:soapguard:ledger")
    client.set_default_soapheaders([])
    assert client.get_element("led:GetBalance") is not None
    assert client.type_factory("led") is not None


def test_spyne_server_interop(spyne_server: Any, ca_file: str) -> None:
    client = soapguard.Client(spyne_server.wsdl_url, config=Config(ca_bundle=ca_file))
    assert client.service.Echo(text="hello") == "hello"


def test_users_own_transport_is_left_alone(ledger: LedgerServer) -> None:
    wsdl = (WSDL_DIR / "ledger.wsdl").read_bytes()
    posted: list[str] = []

    class MyTransport:  # no session, no post_xml: zeep only needs load() for this
        def load(self, url: str) -> bytes:
            return wsdl

    client = soapguard.Client("ledger.wsdl", transport=MyTransport())
    assert isinstance(client.transport, MyTransport)
    assert client.runner is None

    class Posting(MyTransport):
        def post_xml(self, address: str, envelope: Any, headers: Any) -> Any:
            posted.append(address)
            raise requests.ConnectionError("mine")

    client = soapguard.Client("ledger.wsdl", transport=Posting())
    with pytest.raises(requests.ConnectionError, match="mine") as info:
        client.service.GetBalance(account="1")
    assert not isinstance(info.value, soapguard.SoapGuardError)  # untouched
    assert len(posted) == 1


BALANCE_RESPONSE = b"""<?xml version="1.0"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:l="urn:soapguard:ledger"><soap:Body>
  <l:GetBalanceResponse><l:account>3</l:account><l:balance>1.5</l:balance>
  <l:currency>EUR</l:currency></l:GetBalanceResponse></soap:Body></soap:Envelope>"""


@responses.activate
def test_responses_mocks_keep_working() -> None:
    responses.add(responses.POST, "https://localhost:8443/ledger", body=BALANCE_RESPONSE)
    client = soapguard.Client(str(WSDL_DIR / "ledger.wsdl"), config=Config())
    assert client.service.GetBalance(account="3").currency == "EUR"


def test_requests_mock_keeps_working() -> None:
    client = soapguard.Client(str(WSDL_DIR / "ledger.wsdl"), config=Config())
    with requests_mock.Mocker() as mock:
        mock.post("https://localhost:8443/ledger", content=BALANCE_RESPONSE)
        assert client.service.GetBalance(account="3").balance == decimal.Decimal("1.5")


def test_configured_ca_wins_over_requests_ca_bundle(
    ledger: LedgerServer, ca_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other))
    assert client_for(ledger, ca_file).service.GetBalance(account="1").account == "1"


def test_requests_ca_bundle_is_honoured_when_no_soapguard_ca(
    ledger: LedgerServer, ca_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    client = soapguard.Client(ledger.wsdl_url, config=Config())
    assert client.service.GetBalance(account="1").account == "1"
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    with pytest.raises(requests.exceptions.SSLError):
        soapguard.Client(ledger.wsdl_url, config=Config())


def test_untrusted_server_fails_with_certificate_error(
    ledger: LedgerServer, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(requests.exceptions.SSLError) as info:
        soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=str(other)))
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)


def test_timeouts_apply_to_operations_and_wsdl_loading() -> None:
    transport = soapguard.Transport(config=Config(connect_timeout=3, read_timeout=4))
    assert transport.operation_timeout == (3, 4)
    assert transport.load_timeout == (3, 4)
    explicit = soapguard.Transport(timeout=5, operation_timeout=6, config=Config())
    assert (explicit.load_timeout, explicit.operation_timeout) == (5, 6)


def test_bad_environment_raises_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "many")
    with pytest.raises(soapguard.ConfigError, match="SOAPGUARD_MAX_ATTEMPTS"):
        soapguard.Client(str(WSDL_DIR / "ledger.wsdl"))


def test_config_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOAPGUARD_MAX_ATTEMPTS", "5")
    client = soapguard.Client(str(WSDL_DIR / "ledger.wsdl"))
    assert client.config.max_attempts == 5
    assert client.transport.config is client.config


def test_a_plugins_own_error_is_not_a_transport_failure(ledger: LedgerServer, ca_file: str) -> None:
    from zeep import Plugin

    calls: list[str] = []
    events: list[dict[str, Any]] = []

    class Broken(Plugin):  # type: ignore[misc]
        def egress(
            self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any
        ) -> Any:
            calls.append(operation.name)
            raise FileNotFoundError(2, "signing key not found")

    config = Config(ca_bundle=ca_file, idempotent_operations=("*",), on_event=events.append)
    client = soapguard.Client(ledger.wsdl_url, plugins=[Broken()], config=config)
    with pytest.raises(FileNotFoundError) as info:
        client.service.GetBalance(account="1")
    assert not isinstance(info.value, soapguard.SoapGuardError)
    assert calls == ["GetBalance"]  # not retried
    assert events == []  # and not reported as a transport failure
    assert ledger.requests_seen == 0
