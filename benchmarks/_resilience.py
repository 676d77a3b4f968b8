"""Sections 3 and 5: how fast a call recovers, and whether many faulted calls leak.

Both run soapguard through a :class:`soapguard.testing.FaultProxy` that lives,
with the canned server, in the child process (see :mod:`_servers`).
"""

from __future__ import annotations

import collections
import gc
import statistics
import time
from typing import Any

import requests
from _clients import demo_ca, soapguard_service, tls_handshake
from _measure import Row, Spread, judged, ms, open_fds, rss_bytes
from _plan import Plan
from _servers import ServerProcess

import soapguard
from soapguard import tls

RECOVERY_SLACK = 0.050
MEMORY_TARGET = 5 * 1024 * 1024
#: calls between two recoveries: 1 / SOAPGUARD_RETRY_BUDGET's default ratio (0.2)
BUDGET_CALLS = 5
#: transient faults an idempotent call recovers from (README, "Retry rules")
MEMORY_FAULTS = ["flip-response-record:1", "rst-after-request", "flip-request-record"]


def recovery(plan: Plan) -> list[Row]:
    """An idempotent call that meets one bad_record_mac vs a normal call, same proxy."""
    events: collections.Counter[str] = collections.Counter()
    backoffs: list[float] = []
    failed_attempts: list[float] = []

    def on_event(event: dict[str, Any]) -> None:
        events.update([event["event"]])
        if event["event"] == "soapguard.attempt_failed":
            backoffs.append((event["backoff_ms"] or 0.0) / 1000)
            failed_attempts.append(event["duration_ms"] / 1000)

    with ServerProcess(with_proxy=True) as server:
        ca = demo_ca()
        config: dict[str, Any] = {"ca_bundle": ca, "on_event": on_event}
        _, service = soapguard_service(server.proxy_url, **config)
        assert server.proxy_port is not None
        handshakes = [
            tls_handshake(tls.context_for(soapguard.Config(ca_bundle=ca)), server.proxy_port)
            for _ in range(plan.handshakes)
        ]
        service.GetBalance(account="42")
        normal, recovered = [], []
        for _ in range(plan.normal_calls):
            normal.append(_timed_call(service))
        for _ in range(plan.recoveries):
            # a kept-alive connection, as in real use; and calls enough between faults that
            # the retry budget (one retry per 5 calls beyond 10 per second) never refuses one
            for _ in range(BUDGET_CALLS):
                service.GetBalance(account="42")
            server.add_fault("flip-response-record:1")
            recovered.append(_timed_call(service))
        fired = server.proxy_stats()["fired"]
    if fired != plan.recoveries or events["soapguard.call_recovered"] != plan.recoveries:
        raise RuntimeError(
            f"expected {plan.recoveries} injected and recovered faults, got {fired} fired and "
            f"{events['soapguard.call_recovered']} call_recovered events"
        )
    handshake, call, took = Spread.of(handshakes), Spread.of(normal), Spread.of(recovered)
    budget = call.median + handshake.median + RECOVERY_SLACK
    backoff, first = Spread.of(backoffs), Spread.of(failed_attempts)
    return [
        Row(
            section="3 recovery",
            metric="latency of a call recovering from one bad_record_mac",
            result=f"{ms(took.median)} (max {ms(took.high)})",
            target=f"<= {ms(budget)} = normal + handshake + 50 ms",
            status=judged(took.median <= budget),
            detail=(
                f"normal call {ms(call.median)}, TCP+TLS handshake via proxy "
                f"{ms(handshake.median)}; failed attempt {ms(first.median)}, backoff sleep "
                f"{ms(backoff.median)} (default: full jitter, <= 50 ms); "
                f"{plan.recoveries} recoveries"
            ),
            data={
                "recovered_s": recovered,
                "normal_s": vars(call),
                "handshake_s": vars(handshake),
                "budget_s": budget,
                "backoff_s": backoffs,
                "failed_attempt_s": failed_attempts,
            },
        )
    ]


def _timed_call(service: Any) -> float:
    start = time.perf_counter()
    result = service.GetBalance(account="42")
    took = time.perf_counter() - start
    if result.account != "42":
        raise RuntimeError(f"unexpected answer {result!r}")
    return took


def memory(plan: Plan) -> list[Row]:
    """RSS and descriptor growth over many calls with random injected faults."""
    events: collections.Counter[str] = collections.Counter()
    with ServerProcess(with_proxy=True) as server:
        _, service = soapguard_service(
            server.proxy_url,
            ca_bundle=demo_ca(),
            on_event=lambda e: events.update([e["event"]]),
        )
        server.set_random_faults(plan.fault_rate, MEMORY_FAULTS, seed=8)
        failed = _calls(service, plan.memory_warmup)
        gc.collect()
        rss0, fds0 = rss_bytes(), open_fds()
        samples = []
        step = max(1, plan.memory_calls // 10)
        for done in range(0, plan.memory_calls, step):
            failed += _calls(service, min(step, plan.memory_calls - done))
            gc.collect()
            samples.append(rss_bytes() - rss0)
        rss1, fds1 = rss_bytes(), open_fds()
        stats = server.proxy_stats()
    growth, fd_growth = rss1 - rss0, fds1 - fds0
    mib = 1024 * 1024
    return [
        Row(
            section="5 memory",
            metric=f"RSS growth over {plan.memory_calls} calls, {plan.fault_rate:.0%} faults",
            result=f"{growth / mib:+.2f} MiB, fds {fd_growth:+d}",
            target="<= 5 MiB, fds +0",
            status=judged(growth <= MEMORY_TARGET and fd_growth <= 0),
            detail=(
                f"after {plan.memory_warmup} warm-up calls; RSS {rss0 / mib:.1f} MiB; "
                f"{stats['fired']} faults fired, {events['soapguard.call_recovered']} calls "
                f"recovered, {failed} failed; growth per tenth: "
                + " ".join(f"{s / mib:+.1f}" for s in samples)
            ),
            data={
                "rss_growth": growth,
                "fd_growth": fd_growth,
                "samples": samples,
                "faults_fired": stats["fired"],
                "recovered": events["soapguard.call_recovered"],
                "failed": failed,
                "median_sample": statistics.median(samples),
            },
        )
    ]


def _calls(service: Any, n: int) -> int:
    """Make ``n`` calls; return how many failed (all attempts faulted)."""
    failed = 0
    for _ in range(n):
        try:
            service.GetBalance(account="42")
        except (soapguard.SoapGuardError, requests.RequestException):
            failed += 1
    return failed
