"""One identity per call: the idempotency key and the WS-Addressing MessageID."""

from __future__ import annotations

from typing import Any

import pytest
from zeep.wsa import WsAddressingPlugin
from zeep.wsse.username import UsernameToken

import soapguard
from faulty import BINDING
from soapguard import Config
from soapguard.testing.ledger import LedgerServer

pytestmark = pytest.mark.timeout(60)
FAST = {"backoff_initial": 0.001, "backoff_max": 0.002, "idempotent_operations": ("Get*",)}


def _service(ledger: LedgerServer, ca_file: str, **kwargs: Any) -> Any:
    config = Config(ca_bundle=ca_file, idempotency_header="Idempotency-Key", **FAST)
    client = soapguard.Client(ledger.wsdl_url, config=config, **kwargs)
    return client.create_service(BINDING, ledger.url)


def test_every_attempt_of_a_call_carries_the_same_key_and_the_next_call_another(
    ledger: LedgerServer, ca_file: str
) -> None:
    service = _service(ledger, ca_file)
    ledger.fail_next(503, times=2)
    service.GetBalance(account="1")
    service.GetBalance(account="1")
    keys = [h.get("Idempotency-Key") for h in ledger.request_headers]
    assert len(keys) == 4
    assert keys[0]
    assert keys[0] == keys[1] == keys[2]
    assert keys[3]
    assert keys[3] != keys[0]


def test_an_application_key_is_used_as_is(ledger: LedgerServer, ca_file: str) -> None:
    service = _service(ledger, ca_file)
    ledger.fail_next(503)
    with soapguard.idempotency_key("order-123"):
        service.GetBalance(account="1")
    assert [h.get("Idempotency-Key") for h in ledger.request_headers] == ["order-123"] * 2


def test_no_header_unless_configured(ledger: LedgerServer, ca_file: str) -> None:
    client = soapguard.Client(ledger.wsdl_url, config=Config(ca_bundle=ca_file))
    client.create_service(BINDING, ledger.url).GetBalance(account="1")
    assert "Idempotency-Key" not in ledger.request_headers[-1]


def test_the_message_id_is_stable_across_attempts_while_nonces_are_fresh(
    ledger: LedgerServer, ca_file: str
) -> None:
    wsse = UsernameToken("alice", "s3cret-pass", use_digest=True)
    service = _service(ledger, ca_file, wsse=wsse, plugins=[WsAddressingPlugin()])
    ledger.fail_next(503, times=2)
    service.GetBalance(account="1")
    service.GetBalance(account="1")
    ids = ledger.message_ids
    assert len(ids) == 4
    assert ids[0] is not None
    assert ids[0].startswith("urn:uuid:")
    assert ids[0] == ids[1] == ids[2]
    assert ids[3] != ids[0]
    nonces = ledger.nonces
    assert len(set(nonces[:3])) == 3  # WS-Security is rebuilt on every attempt


def test_an_application_key_derives_the_message_id(ledger: LedgerServer, ca_file: str) -> None:
    service = _service(ledger, ca_file, plugins=[WsAddressingPlugin()])
    for _ in range(2):
        with soapguard.idempotency_key("order-123"):
            service.GetBalance(account="1")
    first, second = ledger.message_ids
    assert first == second  # the application's retry sends the same identity
    assert first is not None
    assert first.startswith("urn:uuid:")


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"), soapguard.idempotency_key(""):
        pass
