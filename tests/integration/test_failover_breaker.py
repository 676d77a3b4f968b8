"""Failover to alternate endpoints, per-endpoint circuit breakers, and a bounded load."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
import requests

import soapguard
from faulty import BINDING
from soapguard import Config
from soapguard.errors import error_for
from soapguard.retry.loop import Runner
from soapguard.testing import Fault, FaultProxy
from soapguard.testing.ledger import LedgerServer

pytestmark = pytest.mark.timeout(120)
FAST = {"backoff_initial": 0.001, "backoff_max": 0.002}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _url(port: int) -> str:
    return f"https://127.0.0.1:{port}/ledger"


@contextmanager
def _broken(server: LedgerServer, fault: Fault) -> Iterator[FaultProxy]:
    """A proxy in front of ``server`` that applies ``fault`` to everything."""
    with FaultProxy(("127.0.0.1", server.port), lifetime=120) as proxy:
        proxy.set_random_faults(1.0, [fault], seed=1)
        yield proxy


def _client(server: LedgerServer, ca_file: str, primary: str, **cfg: Any) -> tuple[Any, Any]:
    config = Config(ca_bundle=ca_file, **{**FAST, **cfg})
    client = soapguard.Client(server.wsdl_url, config=config)
    return client, client.create_service(BINDING, primary)


def _transfer(service: Any, request_id: str) -> Any:
    return service.Transfer(fromAccount="1", toAccount="2", amount=Decimal(5), requestId=request_id)


# -- failover -------------------------------------------------------------------------------


def test_a_write_fails_over_when_the_primary_refuses_connections(
    ledger: LedgerServer, ca_file: str
) -> None:
    events: list[dict[str, Any]] = []
    _, service = _client(
        ledger,
        ca_file,
        _url(_closed_port()),
        failover_addresses=(_url(ledger.port),),
        on_event=events.append,
    )
    _transfer(service, "fo-write")
    assert ledger.executions("fo-write") == 1
    first = events[0]
    assert (first["endpoint.index"], first["error.type"]) == (0, "connection.refused")
    assert first["decision_reason"] == "not_sent"
    assert events[-1]["event"] == "soapguard.call_recovered"


def test_a_write_that_reached_the_primary_is_never_sent_to_the_alternate(
    make_ledger: Callable[..., LedgerServer], ca_file: str
) -> None:
    primary, alternate = make_ledger(), make_ledger()
    with _broken(primary, Fault.rst_after_request()) as proxy:
        _, service = _client(
            primary, ca_file, _url(proxy.port), failover_addresses=(_url(alternate.port),)
        )
        with pytest.raises(requests.exceptions.ConnectionError) as info:
            _transfer(service, "fo-reached")
    assert primary.executions("fo-reached") == 1
    assert alternate.requests_seen == 0
    assert info.value.report["outcome"] == "unknown"  # type: ignore[attr-defined]


def test_a_read_recovers_on_the_alternate_after_one_primary_request(
    make_ledger: Callable[..., LedgerServer], ca_file: str
) -> None:
    primary, alternate = make_ledger(), make_ledger()
    events: list[dict[str, Any]] = []
    with _broken(primary, Fault.flip_response_record(n=1)) as proxy:
        _, service = _client(
            primary,
            ca_file,
            _url(proxy.port),
            failover_addresses=(_url(alternate.port),),
            idempotent_operations=("Get*",),
            on_event=events.append,
        )
        assert service.GetBalance(account="42").account == "42"
        assert proxy.stats().requests == 1
    assert alternate.requests_seen == 1
    assert events[0]["endpoint.index"] == 0
    assert events[0]["error.type"] == "tls.bad_record_mac"


def test_a_certificate_failure_on_the_primary_moves_the_call_instead_of_ending_it(
    make_ledger: Callable[..., LedgerServer], ca_file: str, tmp_path: Any
) -> None:
    import trustme

    stranger = trustme.CA()  # the primary's certificate is not trusted
    cert = stranger.issue_cert("127.0.0.1")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    primary = LedgerServer(str(chain), str(key)).start()
    try:
        alternate = make_ledger()
        _, service = _client(
            alternate, ca_file, _url(primary.port), failover_addresses=(_url(alternate.port),)
        )
        _transfer(service, "fo-cert")
        assert alternate.executions("fo-cert") == 1
    finally:
        primary.stop()


# -- the circuit breaker --------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def _with_clock(client: Any, clock: FakeClock) -> None:
    client.runner = Runner(
        client.config,
        error_for=error_for,
        release=client.transport.release,
        clock=clock,
        sleep=lambda seconds: None,
    )


def test_the_breaker_opens_fails_fast_then_probes_and_closes(
    ledger: LedgerServer, ca_file: str
) -> None:
    events: list[dict[str, Any]] = []
    clock = FakeClock()
    with FaultProxy(("127.0.0.1", ledger.port), lifetime=120) as proxy:
        proxy.set_random_faults(1.0, [Fault.rst_on_accept()], seed=1)
        client, service = _client(
            ledger,
            ca_file,
            _url(proxy.port),
            breaker_min_calls=5,
            breaker_failure_ratio=0.5,
            breaker_open_seconds=1.5,
            max_attempts=2,
            idempotent_operations=("Get*",),
            on_event=events.append,
        )
        _with_clock(client, clock)
        for _ in range(12):
            with pytest.raises(requests.exceptions.ConnectionError):
                service.GetBalance(account="1")
        assert proxy.stats().connections <= 12
        before = proxy.stats().connections
        with pytest.raises(soapguard.CircuitOpenError) as info:
            service.GetBalance(account="1")
        assert proxy.stats().connections == before  # failed fast: no connection attempt
        report = info.value.report
        assert (report["error.type"], report["request_sent"]) == ("circuit.open", "none")
        assert 0 < report["retry_after_s"] <= 1.5
        assert report["circuit.calls"] >= 5
        state = client.circuit_state()[_url(proxy.port)]
        assert state["state"] == "open"
        # the endpoint heals; once the open time has passed, one probe closes the breaker
        proxy.clear_faults()
        clock.now += 1.6
        assert client.circuit_state()[_url(proxy.port)]["state"] == "half_open"
        assert service.GetBalance(account="1").account == "1"
        assert client.circuit_state()[_url(proxy.port)]["state"] == "closed"
    kinds = [e["event"] for e in events]
    assert kinds.count("soapguard.circuit_opened") == 1
    assert kinds.count("soapguard.circuit_closed") == 1
    opened = next(e for e in events if e["event"] == "soapguard.circuit_opened")
    assert opened["open_seconds"] == 1.5
    assert opened["server.port"] == proxy.port


def test_with_the_primary_open_calls_go_straight_to_the_alternate(
    make_ledger: Callable[..., LedgerServer], ca_file: str
) -> None:
    primary, alternate = make_ledger(), make_ledger()
    with _broken(primary, Fault.rst_on_accept()) as proxy:
        client, service = _client(
            primary,
            ca_file,
            _url(proxy.port),
            failover_addresses=(_url(alternate.port),),
            breaker_min_calls=3,
            breaker_failure_ratio=0.5,
            idempotent_operations=("Get*",),
        )
        for _ in range(3):  # each: refused by the primary, served by the alternate
            service.GetBalance(account="1")
        assert client.circuit_state()[_url(proxy.port)]["state"] == "open"
        before = proxy.stats().connections
        for _ in range(5):
            service.GetBalance(account="1")
        assert proxy.stats().connections == before
    assert alternate.requests_seen == 8


def test_a_probe_that_ends_without_an_outcome_reopens_the_breaker() -> None:
    from soapguard.retry.breaker import Breaker

    clock = FakeClock()
    breaker = Breaker(failure_ratio=0.5, min_calls=1, window=30, open_seconds=2, clock=clock)
    assert breaker.record(True, probe=False) is not None  # opens
    assert breaker.acquire() == "denied"
    clock.now += 2
    assert breaker.acquire() == "probe"
    assert breaker.acquire() == "denied"  # one probe at a time
    transition = breaker.record(None, probe=True)  # cancelled, deadline...
    assert transition is not None
    assert transition.kind == "opened"
    assert breaker.snapshot().state == "open"


# -- load stays bounded ---------------------------------------------------------------------


@pytest.mark.parametrize("max_attempts", [3, 5])
def test_a_down_endpoint_gets_at_most_half_a_connection_per_call(
    ledger: LedgerServer, ca_file: str, max_attempts: int
) -> None:
    with _broken(ledger, Fault.rst_on_accept()) as proxy:
        _, service = _client(ledger, ca_file, _url(proxy.port), max_attempts=max_attempts)
        barrier = threading.Barrier(32, timeout=30)
        unexpected: list[BaseException] = []

        def work() -> None:
            barrier.wait()
            for _ in range(10):
                try:
                    service.GetBalance(account="1")
                except soapguard.SoapGuardError:
                    pass
                except BaseException as exc:
                    unexpected.append(exc)

        threads = [threading.Thread(target=work) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert unexpected == []
        assert proxy.stats().connections <= 0.5 * 320


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SOAPGUARD_BREAKER_FAILURE_RATIO": "1.5"}, "SOAPGUARD_BREAKER_FAILURE_RATIO"),
        ({"SOAPGUARD_BREAKER_MIN_CALLS": "0"}, "SOAPGUARD_BREAKER_MIN_CALLS"),
        (
            {"SOAPGUARD_FAILOVER_ADDRESSES": "ftp://backup.example/svc"},
            "SOAPGUARD_FAILOVER_ADDRESSES",
        ),
    ],
)
def test_bad_breaker_and_failover_values_name_their_variable(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(soapguard.ConfigError) as info:
        Config.from_env(env)
    assert variable in str(info.value)
