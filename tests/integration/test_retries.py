"""Idempotent calls recover on a fresh connection; writes are never duplicated."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import pytest
import requests
import zeep
import zeep.exceptions
from zeep.wsse.username import UsernameToken

import soapguard
from faulty import BINDING, rig
from soapguard import Config
from soapguard.errors import error_for
from soapguard.retry.loop import Runner
from soapguard.testing import Fault

pytestmark = pytest.mark.timeout(90)

_ids = itertools.count()

TRANSIENT = {
    "headers": Fault.flip_response_record(n=1),
    "peer-alert": Fault.flip_request_record(),
    "reset-after-request": Fault.rst_after_request(),
    "read-timeout": Fault.stall(seconds=2),
}
FAST = {"backoff_initial": 0.001, "backoff_max": 0.01, "read_timeout": 0.5}


def rid() -> str:
    return f"req-{next(_ids)}"


@pytest.fixture
def faulty(
    make_ledger: Any, server_ssl_context: Any, ca_file: str
) -> Callable[..., AbstractContextManager[Any]]:
    def make(version: str = "1.3", **cfg: Any) -> AbstractContextManager[Any]:
        return rig(make_ledger, server_ssl_context, ca_file, version, **{**FAST, **cfg})

    return make


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("name", list(TRANSIENT))
def test_idempotent_call_recovers_on_one_fresh_connection(
    faulty: Any, version: str, name: str
) -> None:
    events: list[dict[str, Any]] = []
    with faulty(version, idempotent_operations=("Get*",), on_event=events.append) as r:
        r.proxy.add_fault(TRANSIENT[name])
        request_id = rid()
        assert r.service.GetBalance(account="42", requestId=request_id).account == "42"
        assert r.proxy.stats().connections == 2
    kinds = [e["event"] for e in events]
    assert kinds == ["soapguard.attempt_failed", "soapguard.call_recovered"]
    assert events[0]["decision"] == "retry"
    assert events[0]["decision_reason"] == "idempotent"


def test_idempotent_call_recovers_from_a_corrupted_large_body(faulty: Any) -> None:
    with faulty(idempotent_operations=("GetStatement",)) as r:
        r.proxy.add_fault(Fault.flip_response_record(n=5))
        assert len(r.service.GetStatement(account="1", lines=3000).entry) == 3000
        assert r.proxy.stats().connections == 2


@pytest.mark.parametrize(
    ("fault", "executed"),
    [
        (Fault.flip_response_record(n=1), 1),
        (Fault.flip_request_record(), 0),
        (Fault.rst_after_request(), 1),
        (Fault.stall(seconds=2), 1),
    ],
    ids=["response-corrupted", "request-corrupted", "reset-after-request", "read-timeout"],
)
def test_non_idempotent_call_is_never_replayed(faulty: Any, fault: Fault, executed: int) -> None:
    with faulty() as r:
        r.proxy.add_fault(fault)
        request_id = rid()
        with pytest.raises(requests.RequestException) as info:
            r.service.Transfer(
                fromAccount="1", toAccount="2", amount=Decimal(5), requestId=request_id
            )
        report = info.value.report  # type: ignore[attr-defined]
        assert report["decision_reason"] == "not_idempotent"
        assert len(report["attempts"]) == 1
        assert r.proxy.stats().connections == 1
        # the stalled response may still be in flight when the client gives up
        assert r.server.executions(request_id) == executed


@pytest.mark.parametrize("fault", [Fault.rst_on_accept(), Fault.corrupt_handshake()])
def test_write_that_never_left_is_retried_transparently(faulty: Any, fault: Fault) -> None:
    events: list[dict[str, Any]] = []
    with faulty(on_event=events.append) as r:
        r.proxy.add_fault(fault)
        request_id = rid()
        r.service.Transfer(fromAccount="1", toAccount="2", amount=Decimal(5), requestId=request_id)
        assert r.server.executions(request_id) == 1
    assert events[0]["request_sent"] == "none"
    assert events[0]["decision_reason"] == "not_sent"
    assert events[-1]["event"] == "soapguard.call_recovered"


def test_per_call_override_lets_a_declared_safe_write_retry(faulty: Any) -> None:
    with faulty() as r:
        r.proxy.add_fault(Fault.flip_response_record(n=1))
        request_id = rid()
        with soapguard.idempotent():
            r.service.Transfer(
                fromAccount="1", toAccount="2", amount=Decimal(5), requestId=request_id
            )
        assert r.server.executions(request_id) == 2  # replayed: the caller declared it safe


def test_override_false_beats_configuration(faulty: Any) -> None:
    with faulty(idempotent_operations=("*",)) as r:
        r.proxy.add_fault(Fault.flip_response_record(n=1))
        with soapguard.idempotent(False), pytest.raises(requests.exceptions.SSLError):
            r.service.GetBalance(account="1")


def test_attempts_exhausted(faulty: Any) -> None:
    with faulty(idempotent_operations=("Get*",), max_attempts=3) as r:
        r.proxy.add_fault(Fault.flip_response_record(n=1), times=3)
        with pytest.raises(requests.exceptions.SSLError) as info:
            r.service.GetBalance(account="1")
        report = info.value.report  # type: ignore[attr-defined]
        assert report["decision_reason"] == "attempts_exhausted"
        assert [a["attempt"] for a in report["attempts"]] == [1, 2, 3]
        assert r.proxy.stats().connections == 3


def test_deadline_ends_the_call_in_time(faulty: Any) -> None:
    with faulty(idempotent_operations=("Get*",), read_timeout=30, deadline=1.0) as r:
        r.proxy.add_fault(Fault.stall(seconds=5))
        started = time.monotonic()
        with pytest.raises(requests.exceptions.Timeout) as info:
            r.service.GetBalance(account="1")
        elapsed = time.monotonic() - started
        assert isinstance(info.value, soapguard.DeadlineExceeded)
        report = info.value.report  # type: ignore[attr-defined]
        assert report["error.type"] == "timeout.deadline"
        assert report["decision_reason"] == "deadline"
        assert elapsed < 1.0 + 1.0  # the deadline plus slack, far below the 5 s stall


def test_soap_fault_is_sent_exactly_once(faulty: Any) -> None:
    with faulty(idempotent_operations=("*",)) as r, pytest.raises(zeep.exceptions.Fault):
        r.service.Reject(reason="x")
    assert r.server.requests_seen == 1


def test_each_attempt_has_a_fresh_wsse_nonce(
    make_ledger: Any, server_ssl_context: Any, ca_file: str
) -> None:
    with rig(make_ledger, server_ssl_context, ca_file, **FAST) as r:
        client = soapguard.Client(
            r.server.wsdl_url,
            wsse=UsernameToken("alice", "s3cret-pw", use_digest=True),
            config=Config(ca_bundle=ca_file, idempotent_operations=("Get*",), **FAST),
        )
        service = client.create_service(BINDING, r.url)
        r.proxy.add_fault(Fault.flip_response_record(n=1))
        service.GetBalance(account="1")
        assert len(r.server.nonces) == 2  # the corrupted response came after the request
        r.proxy.add_fault(Fault.rst_after_request())
        service.GetBalance(account="1")
        assert len(r.server.nonces) == 4
        assert len(set(r.server.nonces)) == 4  # every attempt signed afresh


def test_retry_after_is_honoured(faulty: Any) -> None:
    events: list[dict[str, Any]] = []
    with faulty(idempotent_operations=("Get*",), on_event=events.append) as r:
        r.server.fail_next(503, retry_after=0.3)
        r.service.GetBalance(account="1")
    assert events[0]["error.type"] == "http.status"
    assert events[0]["backoff_ms"] >= 300


def test_budget_stops_a_burst_and_recovers(faulty: Any) -> None:
    now = [1000.0]
    with faulty(
        idempotent_operations=("Get*",),
        retry_budget=0.5,
        retry_budget_floor=0.0,
        circuit_breaker=False,  # the budget alone is under test
    ) as r:
        r.client.runner = Runner(
            r.client.config,
            error_for=error_for,
            release=r.client.transport.release,
            clock=lambda: now[0],
            sleep=lambda s: None,
        )
        reasons, retries = [], 0
        for _ in range(6):
            r.proxy.add_fault(Fault.flip_response_record(n=1), times=3)
            with pytest.raises(requests.exceptions.SSLError) as info:
                r.service.GetBalance(account="1")
            report = info.value.report  # type: ignore[attr-defined]
            reasons.append(report["decision_reason"])
            retries += len(report["attempts"]) - 1
            r.proxy.clear_faults()
        assert "budget" in reasons
        assert retries <= 0.5 * 6  # ratio x calls in the window, floor 0
        now[0] += 11  # the window moves on
        for _ in range(4):
            r.service.GetBalance(account="1")
        r.proxy.add_fault(Fault.flip_response_record(n=1))
        r.service.GetBalance(account="1")  # budget available again: recovers


def test_plain_zeep_client_with_soapguard_transport(
    make_ledger: Any, server_ssl_context: Any, ca_file: str
) -> None:
    with rig(make_ledger, server_ssl_context, ca_file) as r:
        transport = soapguard.Transport(
            config=Config(ca_bundle=ca_file, idempotent_operations=("GetBalance",), **FAST)
        )
        client = zeep.Client(r.server.wsdl_url, transport=transport)
        service = client.create_service(BINDING, r.url)
        r.proxy.add_fault(Fault.flip_response_record(n=1))
        assert service.GetBalance(account="1").account == "1"
        assert r.proxy.stats().connections == 2
        r.proxy.add_fault(Fault.flip_response_record(n=1))
        request_id = rid()
        with pytest.raises(requests.exceptions.SSLError):
            service.Transfer(
                fromAccount="1", toAccount="2", amount=Decimal(1), requestId=request_id
            )
        assert r.server.executions(request_id) == 1
        r.server.fail_next(503)
        assert service.GetBalance(account="2").account == "2"  # 503 retried at HTTP level


def test_soak_no_duplicates_and_every_read_succeeds(faulty: Any) -> None:
    kinds = [
        Fault.flip_response_record(n=1),
        Fault.flip_request_record(),
        Fault.rst_on_accept(),
        Fault.rst_after_request(),
        Fault.corrupt_handshake(),
    ]
    with faulty(idempotent_operations=("Get*",), max_attempts=5) as r:
        r.proxy.set_random_faults(rate=0.05, kinds=kinds, seed=7)
        write_ids: list[str] = []
        write_failures = 0
        for i in range(500):
            if i % 2:
                assert r.service.GetBalance(account=str(i)).account == str(i)
                continue
            request_id = rid()
            write_ids.append(request_id)
            try:
                r.service.Transfer(
                    fromAccount="1", toAccount="2", amount=Decimal(1), requestId=request_id
                )
            except requests.RequestException:
                write_failures += 1
        fired = len(r.proxy.stats().fired)
    assert fired >= 10  # the soak really injected faults
    duplicates = [w for w in write_ids if r.server.executions(w) > 1]
    assert duplicates == []
    assert write_failures < 50
