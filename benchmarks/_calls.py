"""Sections 1, 2 and 6: what a call costs the client (keep-alive, new connection, tracing).

All three talk straight to the canned server (no proxy) in its own process.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import requests
from _clients import (
    baseline_env,
    demo_ca,
    drop_connections,
    public_bundle_with_demo_ca,
    soapguard_service,
    tls_handshake,
    zeep_service,
)
from _floor import Floor, floor_rows
from _measure import Row, Spread, interleaved, judged, ms, ratios, timed, us
from _plan import MB, Plan
from _servers import ServerProcess

import soapguard
from soapguard import tls

KEEP_ALIVE_TARGET = 0.45
#: soapguard / the floor (zeep's own work + a raw http.client POST), see _floor.py
KEEP_ALIVE_FLOOR_TARGET = 1.5
NEW_CONNECTION_TARGET = 0.12
TRACING_TARGET = 1.03
WARMUP_CALLS = 30


def keep_alive(plan: Plan) -> list[Row]:
    """Client CPU per small call on a kept-alive connection: soapguard vs bare zeep vs the floor."""
    with ServerProcess() as server:
        ca = demo_ca()
        with baseline_env(ca) as notes:
            zeep_client, zeep_svc = zeep_service(server.url, ca)
            _, guard_svc = soapguard_service(server.url, ca_bundle=ca)
            floor = Floor(zeep_client, server.url, server.port, ca)
            variants: dict[str, Callable[[], object]] = {
                "zeep": lambda: zeep_svc.GetBalance(account="42"),
                "soapguard": lambda: guard_svc.GetBalance(account="42"),
                **floor.variants(),
            }
            for call in variants.values():
                for _ in range(WARMUP_CALLS):
                    call()
            per_call = interleaved(variants, blocks=plan.cpu_blocks, per_block=plan.cpu_calls)
            floor.close()
    spread = Spread.of(ratios(per_call["soapguard"], per_call["zeep"]))
    zeep_us, guard_us = Spread.of(per_call["zeep"]), Spread.of(per_call["soapguard"])
    return [
        Row(
            section="1 keep-alive",
            metric="client CPU per GetBalance call, soapguard / zeep",
            result=spread.ratio_text(),
            target=f"<= {KEEP_ALIVE_TARGET}x",
            status=judged(spread.median <= KEEP_ALIVE_TARGET),
            detail=(
                f"median {us(guard_us.median)} vs {us(zeep_us.median)}; "
                f"{plan.cpu_blocks} blocks x {plan.cpu_calls} calls, ABBA; "
                f"zeep: default session, trust_env on, "
                f"{', '.join(n.split('=', 1)[0] for n in notes)} -> its CA file"
            ),
            data={
                "ratio": vars(spread),
                "soapguard_s": per_call["soapguard"],
                "zeep_s": per_call["zeep"],
            },
        ),
        *floor_rows(per_call, plan, KEEP_ALIVE_TARGET, KEEP_ALIVE_FLOOR_TARGET),
    ]


def new_connection(plan: Plan) -> list[Row]:
    """Latency of a call that must open a TCP+TLS connection, public CA bundle + demo CA."""
    with (
        ServerProcess() as server,
        public_bundle_with_demo_ca() as bundle,
        baseline_env(bundle),
    ):
        zeep_client, zeep_svc = zeep_service(server.url, bundle)
        guard_client, guard_svc = soapguard_service(server.url, ca_bundle=bundle)
        clients = {"zeep": zeep_client, "soapguard": guard_client}
        variants: dict[str, Callable[[], object]] = {
            "zeep": lambda: zeep_svc.GetBalance(account="42"),
            "soapguard": lambda: guard_svc.GetBalance(account="42"),
        }

        def drop(name: str) -> None:
            drop_connections(clients[name])

        for name, call in variants.items():  # warm-up, each on a new connection
            for _ in range(2):
                drop(name)
                call()
        per_call = interleaved(
            variants,
            blocks=plan.connect_blocks,
            per_block=plan.connect_calls,
            clock=time.perf_counter,
            prepare=drop,
        )
        # the floor: what any client pays for a new connection here, CA loading aside
        context = tls.context_for(guard_client.config)
        shakes = [tls_handshake(context, server.port) for _ in range(10)]
        reused = [timed(variants["soapguard"]) for _ in range(10)]
    spread = Spread.of(ratios(per_call["soapguard"], per_call["zeep"]))
    guard, zeep = Spread.of(per_call["soapguard"]), Spread.of(per_call["zeep"])
    floor = Spread.of(shakes).median + Spread.of(reused).median
    return [
        Row(
            section="2 new connection",
            metric="latency of a call on a new connection, soapguard / zeep",
            result=spread.ratio_text(),
            target=f"<= {NEW_CONNECTION_TARGET}x",
            status=judged(spread.median <= NEW_CONNECTION_TARGET),
            detail=(
                f"median {ms(guard.median)} vs {ms(zeep.median)}; CA file = public bundle "
                f"(certifi) + demo CA; {plan.connect_blocks} blocks x {plan.connect_calls} calls; "
                f"floor = bare TLS handshake {ms(Spread.of(shakes).median)} + kept-alive call "
                f"{ms(Spread.of(reused).median)} = {floor / zeep.median:.3f}x"
            ),
            data={
                "ratio": vars(spread),
                "soapguard_s": per_call["soapguard"],
                "zeep_s": per_call["zeep"],
                "floor_s": floor,
            },
        )
    ]


def tracing_cost(plan: Plan) -> list[Row]:
    """Client CPU per small call with TLS record tracing on vs off (soapguard both)."""
    with ServerProcess() as server:
        ca = demo_ca()
        _, traced = soapguard_service(server.url, ca_bundle=ca, trace_records=True)
        _, untraced = soapguard_service(server.url, ca_bundle=ca, trace_records=False)
        variants: dict[str, Callable[[], object]] = {
            "off": lambda: untraced.GetBalance(account="42"),
            "on": lambda: traced.GetBalance(account="42"),
        }
        for call in variants.values():
            for _ in range(WARMUP_CALLS):
                call()
        per_call = interleaved(variants, blocks=plan.trace_blocks, per_block=plan.trace_calls)
        big = _traced_download_cpu(server.port, ca, plan)
    spread = Spread.of(ratios(per_call["on"], per_call["off"]))
    on, off = Spread.of(per_call["on"]), Spread.of(per_call["off"])
    return [
        Row(
            section="6 diagnostics",
            metric="client CPU per call, trace_records on / off",
            result=spread.ratio_text(),
            target=f"<= {TRACING_TARGET}x",
            status=judged(spread.median <= TRACING_TARGET),
            detail=(
                f"median {us(on.median)} vs {us(off.median)}; "
                f"{plan.trace_blocks} blocks x {plan.trace_calls} calls, ABBA"
            ),
            data={"ratio": vars(spread), "on_s": per_call["on"], "off_s": per_call["off"]},
        ),
        big,
    ]


def _traced_download_cpu(port: int, ca: str, plan: Plan) -> Row:
    """The tracer's cost where records are many: client CPU of a 1 MiB download."""
    size = MB
    url = f"https://127.0.0.1:{port}/bytes/{size}"
    sessions = {
        name: soapguard.Transport(config=soapguard.Config(ca_bundle=ca, trace_records=on)).session
        for name, on in (("off", False), ("on", True))
    }
    variants: dict[str, Callable[[], object]] = {
        name: functools.partial(_download, s, url, size) for name, s in sessions.items()
    }
    # Each block runs on new connections, made in its untimed first call: how fast one
    # connection's server thread feeds it (hence how many reads the client makes) differs
    # by several percent between connections, which would otherwise bias a whole run.
    calls = dict.fromkeys(sessions, 0)

    def fresh_connection_per_block(name: str) -> None:
        if calls[name] % (plan.trace_downloads + 1) == 0:
            sessions[name].close()
        calls[name] += 1

    per_call = interleaved(
        variants,
        blocks=plan.trace_blocks,
        per_block=plan.trace_downloads,
        prepare=fresh_connection_per_block,
    )
    for session in sessions.values():
        session.close()
    spread = Spread.of(ratios(per_call["on"], per_call["off"]))
    return Row(
        section="6 diagnostics",
        metric="client CPU of a 1 MiB response, trace_records on / off",
        result=spread.ratio_text(),
        target=f"<= {TRACING_TARGET}x",
        status=judged(spread.median <= TRACING_TARGET),
        detail=(
            f"median {ms(Spread.of(per_call['on']).median)} vs "
            f"{ms(Spread.of(per_call['off']).median)}; {plan.trace_blocks} blocks x "
            f"{plan.trace_downloads} downloads, ABBA, new connections per block; one "
            "C-to-Python callback per TLS record header (two under TLS 1.3)"
        ),
        data={"ratio": vars(spread), "on_s": per_call["on"], "off_s": per_call["off"]},
    )


def _download(session: requests.Session, url: str, size: int) -> None:
    response = session.get(url, timeout=(10, 60))
    if len(response.content) != size:
        raise RuntimeError(f"short download: {len(response.content)} of {size} bytes")
