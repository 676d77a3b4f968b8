"""Threads that retry at the same time: only soapguard's contract exceptions may escape."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from urllib3._collections import RecentlyUsedContainer

import soapguard
from soapguard import Config
from soapguard.transport.adapter import SoapGuardAdapter

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lockstep(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Barrier]:
    """Make every pool look-up wait until two threads have both looked the key up.

    That is the interleaving behind the race: both threads see the pool, then both
    remove it.
    """
    barrier = threading.Barrier(2, timeout=5)
    original = RecentlyUsedContainer.__getitem__

    def getitem(self: Any, key: Any) -> Any:
        value = original(self, key)
        if threading.current_thread().name.startswith("dropper"):
            barrier.wait()
        return value

    monkeypatch.setattr(RecentlyUsedContainer, "__getitem__", getitem)
    return barrier


def test_two_threads_closing_the_same_hosts_idle_connections_at_once_do_not_raise(
    lockstep: threading.Barrier,
) -> None:
    adapter = SoapGuardAdapter(Config())
    url = "https://soap.example:8443/svc"
    pool = adapter.poolmanager.connection_from_url(url)
    errors: list[BaseException] = []

    def close() -> None:
        try:
            adapter.close_idle(url)
        except BaseException as exc:  # the race surfaced as KeyError(PoolKey(...))
            errors.append(exc)

    threads = [threading.Thread(target=close, name=f"dropper-{n}") for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # the pool stays, with every one of its slots, so callers waiting on it are still woken
    assert adapter.poolmanager.connection_from_url(url) is pool
    assert pool.pool is not None
    assert pool.pool.qsize() == Config().pool_maxsize


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_many_threads_retrying_against_a_down_endpoint_raise_only_contract_errors() -> None:
    port = _closed_port()  # nothing listens: every attempt is refused and retried
    config = Config(backoff_initial=0.0, backoff_max=0.0, max_attempts=3)
    transport = soapguard.Transport(config=config)
    barrier = threading.Barrier(50, timeout=10)
    escaped: list[BaseException] = []
    reports: list[dict[str, Any]] = []

    def call() -> None:
        barrier.wait()
        for _ in range(5):
            try:
                transport.post(f"https://127.0.0.1:{port}/svc", b"<a/>", {"SOAPAction": "Get"})
            except soapguard.SoapGuardError as exc:
                reports.append(exc.report)
            except BaseException as exc:
                escaped.append(exc)

    threads = [threading.Thread(target=call) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert escaped == []
    assert len(reports) == 250
    # refused until the endpoint's breaker opens; after that, failed fast without a connection
    assert {r["error.type"] for r in reports} <= {"connection.refused", "circuit.open"}
    assert all(isinstance(r["attempts"], list) for r in reports)


def test_contract_errors_keep_the_requests_family() -> None:
    transport = soapguard.Transport(config=Config(max_attempts=1))
    with pytest.raises(requests.exceptions.ConnectionError) as info:
        transport.post(f"https://127.0.0.1:{_closed_port()}/svc", b"<a/>", {})
    assert isinstance(info.value, soapguard.SoapGuardError)
