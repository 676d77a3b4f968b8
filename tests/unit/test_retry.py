"""The retry rules as a pure function, the retry budget and the idempotency override."""

from __future__ import annotations

import asyncio
import threading

import pytest

import soapguard
from soapguard.classify.failure import Failure
from soapguard.config import Config
from soapguard.retry.budget import RetryBudget
from soapguard.retry.identity import is_idempotent
from soapguard.retry.rules import decide


def idempotent_override() -> bool | None:
    """What soapguard.idempotent() currently says, seen through the public rule."""
    declared = is_idempotent(Config(idempotent_operations=("Op",)), "Op")
    undeclared = is_idempotent(Config(), "Op")
    return None if (declared, undeclared) == (True, False) else declared


def failure(type_: str, sent: str = "full", origin: str | None = None, **kw: object) -> Failure:
    return Failure(type=type_, origin=origin, message="m", request_sent=sent, **kw)  # type: ignore[arg-type]


def run(f: Failure, *, idem: bool = False, attempt: int = 1, remaining: float = 10.0, **kw: object):
    return decide(
        f,
        idempotent=idem,
        attempt=attempt,
        max_attempts=kw.pop("max_attempts", 3),  # type: ignore[arg-type]
        remaining=remaining,
        sleep=kw.pop("sleep", 0.1),  # type: ignore[arg-type]
        budget=kw.pop("budget", None),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "kind", ["tls.bad_record_mac", "tls.unexpected_eof", "connection.reset", "timeout.read"]
)
def test_transient_failures_retry_idempotent_calls_only(kind: str) -> None:
    assert run(failure(kind), idem=True).reason == "idempotent"
    assert run(failure(kind), idem=True).retry
    refused = run(failure(kind), idem=False)
    assert not refused.retry
    assert refused.reason == "not_idempotent"


@pytest.mark.parametrize("sent", ["partial", "full"])
def test_partial_counts_as_maybe_sent(sent: str) -> None:
    assert run(failure("connection.reset", sent)).reason == "not_idempotent"


@pytest.mark.parametrize(
    "kind", ["connection.refused", "timeout.connect", "tls.bad_record_mac", "connection.reset"]
)
def test_not_sent_is_retried_for_any_operation(kind: str) -> None:
    decision = run(failure(kind, "none"), idem=False)
    assert decision.retry
    assert decision.reason == "not_sent"
    assert decision.reason == "not_sent"


@pytest.mark.parametrize(
    "kind",
    [
        "tls.certificate",
        "tls.protocol_version",
        "tls.no_shared_cipher",
        "tls.handshake_failure",
        "soap.fault",
        "response.invalid",
    ],
)
@pytest.mark.parametrize("sent", ["none", "full"])
def test_deterministic_failures_are_never_retried(kind: str, sent: str) -> None:
    origin = "peer" if kind.startswith("tls.") else None  # the peer refused us
    decision = run(failure(kind, sent, origin), idem=True)
    assert (decision.retry, decision.reason) == (False, "non_retryable")


def test_a_handshake_failure_is_deterministic_whichever_side_noticed() -> None:
    # a corrupted handshake shows as tls.bad_record_mac (transient); what is left is a peer
    # whose messages break the handshake the same way every time
    peer = Failure(type="tls.handshake_failure", origin="peer", message="m", request_sent="none")
    local = Failure(type="tls.handshake_failure", origin="local", message="m", request_sent="none")
    assert run(peer).reason == "non_retryable"
    assert run(local).reason == "non_retryable"
    corrupted = Failure(type="tls.bad_record_mac", origin="local", message="m", request_sent="none")
    assert run(corrupted).reason == "not_sent"


@pytest.mark.parametrize(
    ("status", "retry"), [(502, True), (503, True), (407, False), (403, False)]
)
def test_a_proxy_refusing_the_tunnel_is_retried_only_for_gateway_errors(
    status: int, retry: bool
) -> None:
    refused = Failure(
        type="http.status", origin=None, message="m", request_sent="none", http_status=status
    )
    assert run(refused).retry is retry


@pytest.mark.parametrize(("status", "retry"), [(502, True), (503, True), (504, True), (500, False)])
def test_http_statuses(status: int, retry: bool) -> None:
    decision = run(failure("http.status", http_status=status), idem=True)
    assert decision.retry is retry
    assert not run(failure("http.status", http_status=503), idem=False).retry


def test_retry_after_is_honoured_within_the_deadline() -> None:
    f = failure("http.status", http_status=503, retry_after=2.0)
    assert run(f, idem=True, sleep=0.1, remaining=5).sleep == 2.0
    late = run(f, idem=True, sleep=0.1, remaining=1.5)
    assert (late.retry, late.reason) == (False, "deadline")


def test_attempts_exhausted() -> None:
    decision = run(failure("connection.reset", "none"), attempt=3, max_attempts=3)
    assert (decision.retry, decision.reason) == (False, "attempts_exhausted")


def test_sleep_that_would_cross_the_deadline_is_refused() -> None:
    decision = run(failure("connection.reset", "none"), sleep=0.5, remaining=0.4)
    assert (decision.retry, decision.reason) == (False, "deadline")


def test_deadline_failure_is_final() -> None:
    assert run(failure("timeout.deadline", "none")).reason == "deadline"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_stops_a_retry_storm_and_recovers() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.2, floor_per_second=0.0, window=10.0, clock=clock)
    for _ in range(10):
        budget.record_call()
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]
    clock.now += 10.5  # the window slides past every call and retry
    assert not budget.try_spend()  # no calls in the window: ratio gives nothing
    for _ in range(5):
        budget.record_call()
    assert budget.try_spend()


def test_budget_floor_is_at_most_that_many_retries_in_any_one_second() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.0, floor_per_second=10.0, window=10.0, clock=clock)
    assert sum(budget.try_spend() for _ in range(50)) == 10  # a burst gets the floor, once
    clock.now += 0.9
    assert not budget.try_spend()  # still within the same second
    clock.now += 0.2
    assert sum(budget.try_spend() for _ in range(50)) == 10


def test_transparent_retries_are_charged_to_the_budget() -> None:
    # a down endpoint refuses every connection: nothing is sent, but every retry is load
    budget = RetryBudget(ratio=0.0, floor_per_second=0.0, clock=Clock())
    refused = run(failure("connection.refused", "none"), budget=budget)
    assert (refused.retry, refused.reason) == (False, "budget")


def test_budget_is_thread_safe() -> None:
    budget = RetryBudget(ratio=0.0, floor_per_second=10.0, window=10.0, clock=Clock())
    granted: list[bool] = []
    lock = threading.Lock()

    def spend() -> None:
        for _ in range(100):
            ok = budget.try_spend()
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 10  # the floor for one second, exactly, across threads


def test_idempotent_override_nests_and_resets() -> None:
    assert idempotent_override() is None
    with soapguard.idempotent():
        assert idempotent_override() is True
        with soapguard.idempotent(False):
            assert idempotent_override() is False
        assert idempotent_override() is True
    assert idempotent_override() is None


def test_idempotent_override_is_thread_local() -> None:
    seen: list[bool | None] = []
    with soapguard.idempotent():
        t = threading.Thread(target=lambda: seen.append(idempotent_override()))
        t.start()
        t.join()
    assert seen == [None]


def test_idempotent_override_is_task_local() -> None:
    async def main() -> list[bool | None]:
        release = asyncio.Event()

        async def inside() -> bool | None:
            with soapguard.idempotent():
                await release.wait()
                return idempotent_override()

        async def outside() -> bool | None:
            await asyncio.sleep(0)
            value = idempotent_override()
            release.set()
            return value

        return list(await asyncio.gather(inside(), outside()))

    assert asyncio.run(main()) == [True, None]
