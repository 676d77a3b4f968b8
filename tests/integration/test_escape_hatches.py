"""The two escape hatches users reach for: verify=False in code, and their own adapter."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

import soapguard
from faulty import BINDING
from soapguard import Config
from soapguard.testing.ledger import LedgerServer
from soapguard.tls import context as tls


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_in_code_works_warns_once_and_marks_every_event(
    ledger: LedgerServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tls, "_warned", set())
    tls.clear_cache()
    session = requests.Session()
    session.verify = False  # the server's certificate is from a CA nobody trusts here
    events: list[dict[str, Any]] = []
    config = Config(
        on_event=events.append,
        idempotent_operations=("Get*",),
        backoff_initial=0.001,
        backoff_max=0.01,
    )
    transport = soapguard.Transport(session=session, config=config)
    with caplog.at_level(logging.WARNING, logger="soapguard"):
        client = soapguard.Client(ledger.wsdl_url, transport=transport)
        service = client.create_service(BINDING, ledger.url)
        ledger.fail_next(503)
        assert service.GetBalance(account="1").account == "1"
        service.GetBalance(account="1")
    warnings = [r for r in caplog.records if "verification is disabled" in r.getMessage()]
    assert len(warnings) == 1
    assert events
    assert all(e["tls.verify"] is False for e in events if "tls.verify" in e)
    assert events[0]["tls.verify"] is False


def test_verification_cannot_be_switched_off_by_the_environment(
    ledger: LedgerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # empty CA variables once switched verification off in some requests versions
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("PYTHONHTTPSVERIFY", "0")
    for key, value in {"SOAPGUARD_CA_BUNDLE": "", "SOAPGUARD_TLS_PROFILE": "legacy"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        soapguard.Client(ledger.wsdl_url)  # the test CA is in no store: must be refused


class _MyAdapter(HTTPAdapter):
    pass


def test_a_user_adapter_that_would_carry_the_calls_is_a_config_error() -> None:
    session = requests.Session()
    session.mount("https://mainframe.example/", _MyAdapter())
    with pytest.raises(soapguard.ConfigError) as info:
        soapguard.Transport(session=session, config=Config())
    message = str(info.value)
    assert "_MyAdapter" in message
    assert "https://mainframe.example/" in message
    assert "unmount" in message


def test_adapters_for_other_schemes_and_the_default_prefixes_are_fine() -> None:
    session = requests.Session()
    session.mount("mock://", _MyAdapter())
    session.mount("https://", _MyAdapter())  # replaced by soapguard's own
    transport = soapguard.Transport(session=session, config=Config())
    assert isinstance(session.get_adapter("https://x.example/"), type(transport.adapter))
