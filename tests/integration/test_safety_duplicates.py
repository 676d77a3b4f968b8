"""A write runs at most once, under any combination of faults across attempts.

Each attempt must be judged only by what its own connection saw.  These tests put a
connection-level fault on attempt 1 (nothing sent: retried for every operation) and a
request-level fault on attempt 2 (the request reached the server): a write must then
stop with "outcome unknown" (or the server's definite answer) and run exactly once.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
import zeep
import zeep.exceptions

import soapguard
from faulty import BINDING, Rig, rig
from soapguard import Config
from soapguard.testing import Fault, FaultProxy
from soapguard.testing.ledger import LedgerServer

pytestmark = pytest.mark.timeout(120)

_ids = itertools.count()
FAST = {"backoff_initial": 0.001, "backoff_max": 0.005, "read_timeout": 2.0}

#: attempt 1: the connection fails before any request byte leaves
CONNECTION_FAULTS = {
    "rst-on-accept": Fault.rst_on_accept(),
    "corrupt-handshake": Fault.corrupt_handshake(),
}
#: attempt 2: the request reached the server, then the attempt failed
REQUEST_FAULTS = ("rst-after-request", "bad-record-mac", "http-503", "soap-fault")


def rid() -> str:
    return f"dup-{next(_ids)}"


@pytest.fixture
def faulty(make_ledger: Any, server_ssl_context: Any, ca_file: str) -> Callable[..., Any]:
    def make(**cfg: Any) -> Any:
        return rig(make_ledger, server_ssl_context, ca_file, "1.3", **{**FAST, **cfg})

    return make


def _queue_request_fault(r: Rig, name: str) -> None:
    if name == "rst-after-request":
        r.proxy.add_fault(Fault.rst_after_request())
    elif name == "bad-record-mac":
        r.proxy.add_fault(Fault.flip_response_record(n=1))
    elif name == "http-503":
        r.server.fail_next(503)  # answered without executing


def _write(service: Any, request_id: str, name: str) -> Any:
    # a negative amount makes the ledger answer with a SOAP fault -- after executing it
    amount = Decimal(-5) if name == "soap-fault" else Decimal(5)
    return service.Transfer(fromAccount="1", toAccount="2", amount=amount, requestId=request_id)


def _read(service: Any, request_id: str, name: str) -> Any:
    account = "" if name == "soap-fault" else "42"  # an empty account is a SOAP fault
    return service.GetBalance(account=account, requestId=request_id)


@pytest.mark.parametrize("request_fault", REQUEST_FAULTS)
@pytest.mark.parametrize("connection_fault", list(CONNECTION_FAULTS))
def test_write_after_a_transparent_retry_is_not_replayed(
    faulty: Any, connection_fault: str, request_fault: str
) -> None:
    events: list[dict[str, Any]] = []
    with faulty(on_event=events.append) as r:
        r.proxy.add_fault(CONNECTION_FAULTS[connection_fault])
        _queue_request_fault(r, request_fault)
        request_id = rid()
        with pytest.raises((requests.RequestException, zeep.exceptions.Error)) as info:
            _write(r.service, request_id, request_fault)
        # the request left exactly once: once attempt 2 sent it, nothing may send it again
        assert r.server.requests_seen == 1
        expected = 0 if request_fault == "http-503" else 1
        assert r.server.executions(request_id) == expected
        assert r.proxy.stats().connections == 2
    report = info.value.report  # type: ignore[attr-defined]
    first, second = report["attempts"]
    assert (first["request_sent"], first["decision_reason"]) == ("none", "not_sent")
    # attempt 2 is judged by its own evidence, not by attempt 1's
    assert second["request_sent"] != "none"
    assert second["decision"] == "raise"
    assert report["error.type"] == second["error.type"]
    if request_fault in ("rst-after-request", "bad-record-mac"):
        assert second["decision_reason"] == "not_idempotent"
        assert report["outcome"] == "unknown"
        message = str(info.value)
        assert "outcome unknown" in message
        assert "not retried" in message
    else:  # the server answered: its answer is definite
        assert report["outcome"] == "failed"
    assert [e["event"] for e in events][-1] == "soapguard.call_failed"


@pytest.mark.parametrize("request_fault", REQUEST_FAULTS)
@pytest.mark.parametrize("connection_fault", list(CONNECTION_FAULTS))
def test_read_recovers_after_both_kinds_of_fault(
    faulty: Any, connection_fault: str, request_fault: str
) -> None:
    with faulty(idempotent_operations=("Get*",)) as r:
        r.proxy.add_fault(CONNECTION_FAULTS[connection_fault])
        _queue_request_fault(r, request_fault)
        request_id = rid()
        if request_fault == "soap-fault":  # deterministic: never retried
            with pytest.raises(zeep.exceptions.Fault) as info:
                _read(r.service, request_id, request_fault)
            assert info.value.report["attempts"][-1]["decision_reason"] == "non_retryable"  # type: ignore[attr-defined]
            assert r.server.requests_seen == 1
            return
        assert _read(r.service, request_id, request_fault).account == "42"
        assert r.proxy.stats().connections == 3
        assert r.server.requests_seen == 2


def test_the_final_exception_carries_the_last_attempts_classification(faulty: Any) -> None:
    with faulty() as r:
        r.proxy.add_fault(Fault.rst_on_accept())
        r.proxy.add_fault(Fault.flip_response_record(n=1))
        with pytest.raises(requests.exceptions.SSLError) as info:
            _write(r.service, rid(), "bad-record-mac")
    report = info.value.report  # type: ignore[attr-defined]
    assert report["error.type"] == "tls.bad_record_mac"
    assert report["request_sent"] == "full"
    assert "tls.bad_record_mac" in str(info.value)
    assert "connection.reset" not in str(info.value)


_MIXED = [
    Fault.rst_on_accept(),
    Fault.corrupt_handshake(),
    Fault.rst_after_request(),
    Fault.flip_response_record(n=1),
    Fault.flip_request_record(),
]


#: every call on a new connection, so connection-level faults can hit any call
CLOSE = zeep.Settings(extra_http_headers={"Connection": "close"})


@pytest.fixture
def soak(make_ledger: Any, server_ssl_context: Any, ca_file: str) -> Iterator[Rig]:
    with rig(make_ledger, server_ssl_context, ca_file, "1.3", **FAST) as r:
        client = soapguard.Client(r.server.wsdl_url, config=r.client.config, settings=CLOSE)
        yield Rig(r.server, r.proxy, client, client.create_service(BINDING, r.url))


def test_seeded_soak_of_writes_under_mixed_faults_never_duplicates(soak: Rig) -> None:
    soak.proxy.set_random_faults(0.25, _MIXED, seed=20261201)
    outcomes: dict[str, int] = {"ok": 0, "failed": 0}
    for number in range(200):
        request_id = f"soak-{number}"
        try:
            _write(soak.service, request_id, "")
            outcomes["ok"] += 1
        except requests.RequestException:
            outcomes["failed"] += 1
        assert soak.server.executions(request_id) <= 1, request_id
    fired = soak.proxy.stats().fired
    assert len(fired) >= 30  # the faults really were there
    assert outcomes["ok"] >= 100


def _plain_zeep(r: Rig, **cfg: Any) -> Any:
    transport = soapguard.Transport(config=Config(ca_bundle=_ca(r), **{**FAST, **cfg}))
    client = zeep.Client(r.server.wsdl_url, transport=transport, settings=CLOSE)
    return client.create_service(BINDING, r.url)


def _ca(r: Rig) -> str:
    ca = r.client.config.ca_bundle
    assert ca is not None
    return ca


@pytest.mark.parametrize("request_fault", ["rst-after-request", "bad-record-mac", "http-503"])
@pytest.mark.parametrize("connection_fault", list(CONNECTION_FAULTS))
def test_standalone_transport_never_replays_a_write(
    faulty: Any, connection_fault: str, request_fault: str
) -> None:
    with faulty() as r:
        service = _plain_zeep(r)
        r.proxy.add_fault(CONNECTION_FAULTS[connection_fault])
        _queue_request_fault(r, request_fault)
        request_id = rid()
        with pytest.raises((requests.RequestException, zeep.exceptions.Error)):
            _write(service, request_id, request_fault)
        assert r.server.requests_seen == 1
        assert r.server.executions(request_id) == (0 if request_fault == "http-503" else 1)


def test_standalone_transport_soak_never_duplicates(soak: Rig) -> None:
    service = _plain_zeep(soak)
    soak.proxy.set_random_faults(0.25, _MIXED, seed=7)
    for number in range(100):
        request_id = f"zsoak-{number}"
        with contextlib.suppress(requests.RequestException, zeep.exceptions.Error):
            _write(service, request_id, "")
        assert soak.server.executions(request_id) <= 1, request_id
    assert len(soak.proxy.stats().fired) >= 10


def test_threads_with_resets_on_accept_never_duplicate(
    make_ledger: Callable[..., LedgerServer], ca_file: str
) -> None:
    import threading

    server = make_ledger()
    with FaultProxy(("127.0.0.1", server.port), lifetime=120) as proxy:
        client = soapguard.Client(server.wsdl_url, config=Config(ca_bundle=ca_file, **FAST))
        service = client.create_service(BINDING, f"https://127.0.0.1:{proxy.port}/ledger")
        proxy.set_random_faults(
            0.1, [Fault.rst_on_accept(), Fault.rst_after_request()], seed=random.randrange(1 << 30)
        )
        ids = [f"thr-{n}" for n in range(240)]
        errors: list[BaseException] = []

        def work(chunk: list[str]) -> None:
            for request_id in chunk:
                try:
                    _write(service, request_id, "")
                except requests.RequestException as exc:
                    if not isinstance(exc, soapguard.SoapGuardError):
                        errors.append(exc)
                except BaseException as exc:  # anything else is a contract breach
                    errors.append(exc)

        threads = [threading.Thread(target=work, args=(ids[n::12],)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert max(server.executions(request_id) for request_id in ids) == 1
