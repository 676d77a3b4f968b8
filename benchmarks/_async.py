"""Section 9: the async client against bare ``zeep.AsyncClient``, same run, same server.

* keep-alive: client CPU per GetBalance call on a kept-alive connection, one call at
  a time on one event loop, interleaved ABBA call by call (target <= 0.85x);
* concurrency: wall time of 200 concurrent calls (``asyncio.gather``) on one client,
  interleaved ABBA block by block; throughput is its inverse (target >= 1x zeep's).

The zeep baseline is zeep's own async transport over an ``httpx.AsyncClient`` that
verifies with the demo CA (zeep's ``create_service`` returns a synchronous proxy, so
the baseline binds zeep's ``AsyncServiceProxy`` to the benchmark server's address).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import zeep
from _clients import BINDING, WSDL, demo_ca
from _measure import Row, Spread, interleaved, judged, ratios, us
from _plan import Plan
from _servers import ServerProcess
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

import soapguard

KEEP_ALIVE_TARGET = 0.85
THROUGHPUT_TARGET = 1.0
CONCURRENT = 200
WARMUP_CALLS = 30


def _zeep_async(url: str, ca: str) -> Any:
    context = ssl.create_default_context(cafile=ca)
    transport = AsyncTransport(  # type: ignore[no-untyped-call]
        client=httpx.AsyncClient(verify=context), wsdl_client=httpx.Client(verify=context)
    )
    client = zeep.AsyncClient(WSDL, transport=transport)  # type: ignore[no-untyped-call]
    return AsyncServiceProxy(client, client.wsdl.bindings[BINDING], address=url)  # type: ignore[no-untyped-call]


def _soapguard_async(url: str, ca: str) -> Any:
    config = soapguard.Config(ca_bundle=ca, idempotent_operations=("Get*",))
    client = soapguard.AsyncClient(WSDL, config=config)
    return client.create_service(BINDING, url)


def async_client(plan: Plan) -> list[Row]:
    """Client CPU per keep-alive call and 200-call throughput, soapguard vs zeep (async)."""
    loop = asyncio.new_event_loop()
    try:
        with ServerProcess() as server:
            ca = demo_ca()
            services = {
                "zeep": _zeep_async(server.url, ca),
                "soapguard": _soapguard_async(server.url, ca),
            }

            def one(name: str) -> Callable[[], object]:
                service = services[name]
                return lambda: loop.run_until_complete(service.GetBalance(account="42"))

            def burst(name: str) -> Callable[[], object]:
                service = services[name]

                async def calls() -> list[Any]:
                    return await asyncio.gather(
                        *(service.GetBalance(account=str(i)) for i in range(CONCURRENT))
                    )

                return lambda: loop.run_until_complete(calls())

            singles = {name: one(name) for name in services}
            for call in singles.values():
                for _ in range(WARMUP_CALLS):
                    call()
            cpu = interleaved(singles, blocks=plan.cpu_blocks, per_block=plan.cpu_calls)
            bursts = {name: burst(name) for name in services}
            wall = interleaved(
                bursts, blocks=max(plan.cpu_blocks, 4), per_block=2, clock=time.perf_counter
            )
    finally:
        loop.close()
    cpu_spread = Spread.of(ratios(cpu["soapguard"], cpu["zeep"]))
    # throughput ratio = zeep's time / soapguard's time for the same 200 calls
    throughput = Spread.of(ratios(wall["zeep"], wall["soapguard"]))
    zeep_us, guard_us = Spread.of(cpu["zeep"]), Spread.of(cpu["soapguard"])
    zeep_wall, guard_wall = Spread.of(wall["zeep"]), Spread.of(wall["soapguard"])
    return [
        Row(
            section="10 async keep-alive",
            metric="client CPU per GetBalance call, soapguard.AsyncClient / zeep.AsyncClient",
            result=cpu_spread.ratio_text(),
            target=f"<= {KEEP_ALIVE_TARGET}x",
            status=judged(cpu_spread.median <= KEEP_ALIVE_TARGET),
            detail=f"median {us(guard_us.median)} vs {us(zeep_us.median)}",
        ),
        Row(
            section="10 async concurrency",
            metric=f"throughput of {CONCURRENT} concurrent calls, soapguard / zeep (async)",
            result=throughput.ratio_text(),
            target=f">= {THROUGHPUT_TARGET}x",
            status=judged(throughput.median >= THROUGHPUT_TARGET),
            detail=(
                f"{CONCURRENT} calls in {guard_wall.median * 1000:.0f} ms vs "
                f"{zeep_wall.median * 1000:.0f} ms (median of blocks)"
            ),
        ),
    ]
