"""Section 12: many threads, one soapguard client, against as many zeep clients.

16 threads share one ``soapguard.Client`` (its pool keeps up to
``SOAPGUARD_POOL_MAXSIZE`` connections per endpoint) while the baseline gives each of
16 threads a ``zeep.Client`` of its own (its own session, so its own connection).
Each round starts the 16 threads together (a barrier) and times, wall clock, until
every thread has made its calls; throughput is calls per second.  Rounds of the
variants alternate ABBA, as in section 1, and the result is the median of per-round
ratios with their min-max.

A second row shows that the shared client scales with its pool: the same 16 threads
against a server that takes ``SLOW_MS`` to answer (``/slow/MS``), on a client with
``pool_maxsize=16`` against one with ``pool_maxsize=1`` (every call waits for the one
connection).  Against the instant canned server the client's CPU is the bottleneck
and one connection is as good as sixteen, which says nothing about the pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from _clients import baseline_env, demo_ca, soapguard_service, zeep_service
from _measure import Row, Spread, judged
from _plan import Plan
from _servers import ServerProcess

THREADS = 16
THROUGHPUT_TARGET = 1.0
#: how long the server takes per call in the pool-size row
SLOW_MS = 10


def _round(services: list[Any], calls: int) -> float:
    """Seconds for ``len(services)`` threads (thread i uses services[i]) to make ``calls``
    calls each, from a common start."""
    start = threading.Barrier(len(services) + 1)
    errors: list[BaseException] = []

    def work(service: Any) -> None:
        start.wait()
        try:
            for _ in range(calls):
                service.GetBalance(account="42")
        except BaseException as exc:  # reported below: a failed call makes the round void
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} calls failed in a round: {errors[0]!r}")
    return took


def _rounds(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    names = list(variants)
    taken: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        order = names if number % 2 == 0 else names[::-1]
        for name in order + order[::-1]:  # ABBA inside the round
            taken[name].append(variants[name]())
    return taken


def threads(plan: Plan) -> list[Row]:
    """Throughput of 16 threads: one shared soapguard client vs 16 zeep clients."""
    calls = plan.thread_calls
    with ServerProcess() as server:
        ca = demo_ca()
        with baseline_env(ca):
            zeeps = [zeep_service(server.url, ca)[1] for _ in range(THREADS)]
            shared = soapguard_service(server.url, ca_bundle=ca, pool_maxsize=THREADS)[1]
            slow = server.url.rsplit("/", 1)[0] + f"/slow/{SLOW_MS}"
            wide = soapguard_service(slow, ca_bundle=ca, pool_maxsize=THREADS)[1]
            narrow = soapguard_service(slow, ca_bundle=ca, pool_maxsize=1)[1]
            variants: dict[str, Callable[[], float]] = {
                "zeep": lambda: _round(zeeps, calls),
                "soapguard": lambda: _round([shared] * THREADS, calls),
                "maxsize 16": lambda: _round([wide] * THREADS, calls),
                "maxsize 1": lambda: _round([narrow] * THREADS, calls),
            }
            for run in variants.values():  # warm-up: connections opened, code paths hot
                run()
            taken = _rounds(variants, plan.thread_rounds)
    total = THREADS * calls
    # throughput ratio = inverse time ratio, per pair of rounds
    vs_zeep = Spread.of([z / g for g, z in zip(taken["soapguard"], taken["zeep"], strict=True)])
    scaling = Spread.of(
        [n / w for w, n in zip(taken["maxsize 16"], taken["maxsize 1"], strict=True)]
    )

    def rate(name: str) -> str:
        return f"{total / Spread.of(taken[name]).median:.0f} calls/s"

    return [
        Row(
            section="12 threads",
            metric=(
                f"throughput of {THREADS} threads, one soapguard client / {THREADS} zeep clients"
            ),
            result=vs_zeep.ratio_text(),
            target=f">= {THROUGHPUT_TARGET}x",
            status=judged(vs_zeep.median >= THROUGHPUT_TARGET),
            detail=(
                f"{rate('soapguard')} vs {rate('zeep')}; soapguard pool_maxsize={THREADS}; "
                f"{plan.thread_rounds} rounds ABBA x {THREADS} threads x {calls} calls"
            ),
            data={"ratio": vars(vs_zeep), "seconds": taken},
        ),
        Row(
            section="12 threads",
            metric=(
                f"throughput of {THREADS} threads on one soapguard client, server "
                f"answering in {SLOW_MS} ms, pool_maxsize {THREADS} / 1"
            ),
            result=scaling.ratio_text(),
            target="> 1x",
            status="info",
            detail=(
                f"{rate('maxsize 16')} with {THREADS} connections vs "
                f"{rate('maxsize 1')} with one (callers wait for it)"
            ),
            data={"ratio": vars(scaling)},
        ),
    ]
