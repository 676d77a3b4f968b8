"""soapguard.AsyncClient against real TLS servers and the FaultProxy: the sync client's contract.

Each fault scenario runs through the sync and the async client with the same
configuration and must end the same way: error.type, request_sent, the retry
decision, the attempts made and how often the ledger server executed the write.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import zeep

import soapguard
from faulty import BINDING, rig
from soapguard import Config
from soapguard.testing import Fault

pytestmark = pytest.mark.timeout(90)

_ids = itertools.count()
FAST = {"backoff_initial": 0.001, "backoff_max": 0.01, "read_timeout": 0.5}


def rid() -> str:
    return f"async-{next(_ids)}"


@pytest.fixture
def faulty(
    make_ledger: Any, server_ssl_context: Any, ca_file: str
) -> Callable[..., AbstractContextManager[Any]]:
    def make(client_class: type[Any], version: str = "1.3", **cfg: Any) -> Any:
        return rig(
            make_ledger, server_ssl_context, ca_file, version, client_class, **{**FAST, **cfg}
        )

    return make


def _transfer_args(request_id: str) -> dict[str, Any]:
    return {"fromAccount": "1", "toAccount": "2", "amount": Decimal(1), "requestId": request_id}


async def _call(service: Any, op: str, kwargs: dict[str, Any]) -> Any:
    result = getattr(service, op)(**kwargs)
    return await result if asyncio.iscoroutine(result) else result


SCENARIOS: dict[str, tuple[Fault, dict[str, Any]]] = {
    "bad_record_mac-local": (Fault.flip_response_record(n=1), {}),
    "bad_record_mac-peer": (Fault.flip_request_record(), {}),
    "reset-before-send": (Fault.rst_on_accept(), {}),
    "reset-after-request": (Fault.rst_after_request(), {}),
    "read-timeout": (Fault.stall(seconds=2), {}),
    "deadline": (Fault.stall(seconds=4), {"read_timeout": 30, "deadline": 0.8}),
}
#: outcomes of a corrupted request record that race on loopback (the alert or the close)
PEER_RACE = {"tls.bad_record_mac", "tls.unexpected_eof", "connection.reset"}


def _outcome(
    r: Any, events: list[dict[str, Any]], fault: Fault, asynchronous: bool
) -> dict[str, Any]:
    """Run one write under ``fault``; what an operator and the ledger saw."""
    r.proxy.add_fault(fault)
    request_id = rid()
    error: BaseException | None = None
    try:
        if asynchronous:
            asyncio.run(_call(r.service, "Transfer", _transfer_args(request_id)))
        else:
            r.service.Transfer(**_transfer_args(request_id))
    except Exception as exc:
        error = exc
        assert isinstance(error, soapguard.SoapGuardError), type(error)
    first = next(e for e in events if e["event"] == "soapguard.attempt_failed")
    return {
        "error.type": first["error.type"],
        "request_sent": first["request_sent"],
        "decisions": [(e["decision"], e["decision_reason"]) for e in events if e["attempt"]],
        "calls": [e["event"] for e in events if e["event"] != "soapguard.attempt_failed"],
        "connections": r.proxy.stats().connections,
        "executions": r.server.executions(request_id),
        "exception": error,
    }


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault_scenarios_end_as_with_the_sync_client(faulty: Any, name: str) -> None:
    fault, cfg = SCENARIOS[name]
    seen = {}
    for client_class in (soapguard.Client, soapguard.AsyncClient):
        events: list[dict[str, Any]] = []
        with faulty(client_class, max_attempts=3, on_event=events.append, **cfg) as r:
            asynchronous = client_class is soapguard.AsyncClient
            seen[client_class] = _outcome(r, events, fault, asynchronous)
    sync, asy = seen[soapguard.Client], seen[soapguard.AsyncClient]
    exc = asy.pop("exception")
    sync.pop("exception")
    if name == "bad_record_mac-peer":
        assert {sync.pop("error.type"), asy.pop("error.type")} <= PEER_RACE
    assert asy == sync
    if name == "reset-before-send":  # nothing left: retried transparently, ran once
        assert exc is None
        assert asy["executions"] == 1
        return
    # the exception bare zeep.AsyncClient would have raised, plus soapguard's base
    expected = {
        "bad_record_mac-local": ssl.SSLError,
        "reset-after-request": httpx.ReadError,
        "read-timeout": httpx.ReadTimeout,
        "deadline": httpx.TimeoutException,
    }.get(name, Exception)
    assert isinstance(exc, expected)
    assert asy["executions"] == (0 if name == "bad_record_mac-peer" else 1)
    if name == "deadline":
        assert isinstance(exc, soapguard.async_errors.DeadlineExceeded)
        assert asy["decisions"][-1] == ("raise", "deadline")


# faults that hit a request (rst_on_accept hits a new connection: a pooled one dodges it)
PER_REQUEST = [n for n in SCENARIOS if n not in ("deadline", "reset-before-send")]


@pytest.mark.parametrize("name", PER_REQUEST)
def test_an_idempotent_read_recovers_on_one_fresh_connection(faulty: Any, name: str) -> None:
    events: list[dict[str, Any]] = []
    fault = SCENARIOS[name][0]
    with faulty(
        soapguard.AsyncClient, idempotent_operations=("Get*",), on_event=events.append
    ) as r:
        r.proxy.add_fault(fault)

        async def main() -> Any:
            async with r.client:
                first = await r.service.GetBalance(account="42")
                r.proxy.add_fault(fault)
                second = await r.service.GetBalance(account="43")  # on a pooled connection
                return first, second

        first, second = asyncio.run(main())
        assert (first.account, second.account) == ("42", "43")
        # each failure is followed by a fresh connection, never a pooled one
        assert r.proxy.stats().connections == 3
    kinds = [e["event"] for e in events]
    assert kinds == ["soapguard.attempt_failed", "soapguard.call_recovered"] * 2
    assert events[2]["connection.reused"] in (True, None)  # the pooled connection was used


def test_record_caps_hold_in_both_directions_on_the_wire(faulty: Any) -> None:
    with faulty(soapguard.AsyncClient, max_record_size=1024) as r:
        statement = asyncio.run(
            _call(
                r.service, "GetStatement", {"account": "1", "lines": 400, "requestId": "x" * 5000}
            )
        )
        assert len(statement.entry) == 400
        stats = r.proxy.stats()
    overhead = 64  # AEAD tag, padding and content type on top of the 1024-byte plaintext
    assert max(stats.app_data_sizes("c2s")) > 1024 - overhead  # the request was capped...
    assert stats.largest_record("c2s") <= 1024 + overhead
    assert stats.largest_record("s2c") <= 1024 + overhead  # ...and so was the response


def test_sixty_concurrent_calls_with_faults_reads_succeed_writes_run_once(faulty: Any) -> None:
    kinds = [
        Fault.flip_response_record(n=1),
        Fault.flip_request_record(),
        Fault.rst_on_accept(),
        Fault.rst_after_request(),
        Fault.corrupt_handshake(),
    ]
    with faulty(soapguard.AsyncClient, idempotent_operations=("Get*",), max_attempts=6) as r:
        r.proxy.set_random_faults(rate=0.08, kinds=kinds, seed=11)
        write_ids = [rid() for _ in range(30)]

        async def write(request_id: str) -> bool:
            try:
                await r.service.Transfer(**_transfer_args(request_id))
            except soapguard.SoapGuardError:  # a write that may have run is not retried
                return False
            return True

        async def main() -> list[Any]:
            async with r.client:
                reads = [r.service.GetBalance(account=str(i)) for i in range(30)]
                writes = [write(w) for w in write_ids]
                return await asyncio.gather(*reads, *writes)

        results = asyncio.run(main())
        assert [b.account for b in results[:30]] == [str(i) for i in range(30)]
        assert len(r.proxy.stats().fired) >= 3  # faults were really injected
        assert [w for w in write_ids if r.server.executions(w) > 1] == []
        for written, request_id in zip(results[30:], write_ids, strict=True):
            assert r.server.executions(request_id) == 1 if written else True


async def _until(condition: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    """Poll ``condition`` (bounded); a stand-in for an event the other side cannot send."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not condition():
        assert loop.time() < end, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


def test_cancelling_a_write_mid_flight_closes_its_connection_and_says_outcome_unknown(
    faulty: Any,
) -> None:
    events: list[dict[str, Any]] = []
    with faulty(soapguard.AsyncClient, read_timeout=30, on_event=events.append) as r:
        r.proxy.add_fault(Fault.stall(seconds=20))
        request_id = rid()

        async def main() -> None:
            task = asyncio.ensure_future(r.service.Transfer(**_transfer_args(request_id)))
            await _until(lambda: r.server.requests_seen >= 1, "the server got the request")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            pool = r.client.transport.client._transport._pool
            assert pool.connections == []  # closed, not returned to the pool
            await _until(lambda: r.proxy.stats().active == 0, "the proxy saw the close")

        asyncio.run(main())
    assert [e["event"] for e in events] == ["soapguard.call_cancelled"]
    event = events[0]
    assert event["outcome"] == "unknown"
    assert event["request_sent"] == "full"
    assert event["error.type"] is None  # no network failure is claimed
    assert "may have run" in event["hint"]


def test_cancelling_a_read_is_silent_and_never_retried(faulty: Any) -> None:
    events: list[dict[str, Any]] = []
    cfg = {"read_timeout": 30, "idempotent_operations": ("Get*",), "on_event": events.append}
    with faulty(soapguard.AsyncClient, **cfg) as r:
        r.proxy.add_fault(Fault.stall(seconds=20))

        async def main() -> None:
            with pytest.raises(asyncio.TimeoutError):  # cancels the call after 0.5 s
                await asyncio.wait_for(r.service.GetBalance(account="1"), 0.5)

        asyncio.run(main())
        assert r.proxy.stats().connections == 1  # no retry
    assert events == []


def test_idempotent_override_is_task_local(faulty: Any) -> None:
    with faulty(soapguard.AsyncClient) as r:
        declared, undeclared = rid(), rid()

        async def safe_write(inside: asyncio.Event, go: asyncio.Event) -> None:
            with soapguard.idempotent():
                inside.set()
                await go.wait()
                r.proxy.add_fault(Fault.flip_response_record(n=1))
                await r.service.Transfer(**_transfer_args(declared))  # replayed: declared safe

        async def other_write(inside: asyncio.Event, go: asyncio.Event) -> None:
            await inside.wait()  # the other task is inside its idempotent() block now
            r.proxy.add_fault(Fault.flip_response_record(n=1))
            with pytest.raises(ssl.SSLError):
                await r.service.Transfer(**_transfer_args(undeclared))
            go.set()

        async def main() -> None:
            inside, go = asyncio.Event(), asyncio.Event()
            await asyncio.gather(safe_write(inside, go), other_write(inside, go))

        asyncio.run(main())
        assert r.server.executions(undeclared) == 1
        assert r.server.executions(declared) == 2


def test_pool_maxsize_bounds_connections_per_endpoint_and_waiters_fail_as_timeout_pool(
    faulty: Any,
) -> None:
    with faulty(soapguard.AsyncClient, pool_maxsize=2, idempotent_operations=("Get*",)) as r:

        async def burst() -> list[Any]:
            return await asyncio.gather(*(r.service.GetBalance(account=str(i)) for i in range(12)))

        assert len(asyncio.run(burst())) == 12
        assert r.proxy.stats().connections <= 2

    with faulty(soapguard.AsyncClient, pool_maxsize=1, connect_timeout=0.3, read_timeout=30) as r:
        r.proxy.add_fault(Fault.stall(seconds=3))

        async def starved() -> BaseException:
            holder = asyncio.ensure_future(r.service.GetBalance(account="1"))
            await _until(lambda: r.server.requests_seen >= 1, "the first call holds the slot")
            with pytest.raises(httpx.PoolTimeout) as info:
                await r.service.Transfer(**_transfer_args(rid()))
            holder.cancel()
            with pytest.raises(asyncio.CancelledError):
                await holder
            return info.value

        error = asyncio.run(starved())
    report = error.report  # type: ignore[attr-defined]
    assert report["error.type"] == "timeout.pool"
    assert report["request_sent"] == "none"
    assert "SOAPGUARD_POOL_MAXSIZE" in report["hint"]


def test_a_connection_past_its_max_age_is_retired_after_its_request(faulty: Any) -> None:
    for max_age, expected in ((None, 1), (0.001, 3)):
        with faulty(soapguard.AsyncClient, pool_max_age=max_age) as r:

            async def three_calls() -> None:
                async with r.client:
                    for i in range(3):
                        await r.service.GetBalance(account=str(i))

            asyncio.run(three_calls())
            assert r.proxy.stats().connections == expected


def test_same_ssl_context_and_ca_order_as_the_sync_client(
    ca_file: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    cfg = Config(ca_bundle=ca_file)
    transport = soapguard.AsyncTransport(config=cfg)
    assert transport.ssl_context is soapguard.Transport(config=cfg).adapter.ssl_context
    assert transport.client._transport._pool._ssl_context is transport.ssl_context
    assert transport.wsdl_client._transport._pool._ssl_context is transport.ssl_context
    assert transport.wsdl_client.timeout.connect == cfg.connect_timeout
    assert transport.wsdl_client.timeout.read == cfg.read_timeout
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    assert soapguard.AsyncTransport(config=Config()).trust.source == "REQUESTS_CA_BUNDLE"
    in_code = soapguard.AsyncTransport(config=Config(), verify_ssl=ca_file)
    assert in_code.trust.source == "session.verify"  # a path in code beats the variable
    assert soapguard.AsyncTransport(config=cfg).trust.source == "Config.ca_bundle"


def test_plain_zeep_async_client_on_soapguard_transport(faulty: Any, ca_file: str) -> None:
    with faulty(soapguard.Client) as r:
        transport = soapguard.AsyncTransport(
            config=Config(ca_bundle=ca_file, idempotent_operations=("GetBalance",), **FAST)
        )
        client = zeep.AsyncClient(r.server.wsdl_url, transport=transport)
        service = client.bind()
        service._binding_options["address"] = r.url  # through the proxy
        request_id = rid()

        async def main() -> None:
            r.proxy.add_fault(Fault.flip_response_record(n=1))
            assert (await service.GetBalance(account="1")).account == "1"
            r.proxy.add_fault(Fault.flip_response_record(n=1))
            with pytest.raises(ssl.SSLError):
                await service.Transfer(**_transfer_args(request_id))
            r.server.fail_next(503)
            assert (await service.GetBalance(account="2")).account == "2"  # 503 retried
            await transport.aclose()

        asyncio.run(main())
        assert r.server.executions(request_id) == 1


def test_a_user_client_keeps_its_headers_and_gets_soapguards_transport(
    faulty: Any, ca_file: str
) -> None:
    with faulty(soapguard.Client) as r:
        user = httpx.AsyncClient(headers={"X-Tenant": "acme"}, trust_env=False)
        transport = soapguard.AsyncTransport(client=user, config=Config(ca_bundle=ca_file))
        client = soapguard.AsyncClient(r.server.wsdl_url, transport=transport)
        service = client.create_service(BINDING, r.url)
        assert asyncio.run(_call(service, "GetBalance", {"account": "7"})).account == "7"
        assert r.server.request_headers[-1].get("X-Tenant") == "acme"
        assert user._transport._pool._ssl_context is transport.ssl_context
    mounted = httpx.AsyncClient(mounts={"https://": httpx.AsyncHTTPTransport()}, trust_env=False)
    with pytest.raises(soapguard.ConfigError, match="mounted"):
        soapguard.AsyncTransport(client=mounted, config=Config(ca_bundle=ca_file))


def test_async_payload_logs_are_opt_in_and_redacted(
    ledger: Any, ca_file: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="soapguard.transport.asyncio")

    async def call(config: Config) -> None:
        client = soapguard.AsyncClient(ledger.wsdl_url, config=config)
        try:
            await client.service.GetBalance(account="acct-secret-77")
        finally:
            await client.transport.aclose()

    asyncio.run(call(Config(ca_bundle=ca_file)))
    assert not [r for r in caplog.records if r.name == "soapguard.transport.asyncio"]
    config = Config(ca_bundle=ca_file, log_payloads=True, sensitive_elements=("account",))
    asyncio.run(call(config))
    lines = [r.getMessage() for r in caplog.records if r.name == "soapguard.transport.asyncio"]
    assert any(line.startswith("POST https://") for line in lines)
    assert any(line.startswith("HTTP 200 from https://") for line in lines)
    assert "acct-secret-77" not in "\n".join(lines)
