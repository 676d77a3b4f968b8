"""Section 9: what one resilience feature adds to a kept-alive call (on / off, same client).

Each row compares two soapguard clients that differ in one setting, interleaved ABBA
against the same canned server, and reports the median ratio of client CPU per call
with its spread.  The features are on by default, so the question each row answers is
"what does the happy path pay for it".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _clients import demo_ca, soapguard_service
from _measure import Row, Spread, interleaved, judged, ratios, us
from _plan import Plan
from _servers import ServerProcess

WARMUP_CALLS = 30

#: (metric, setting on, setting off, target ratio)
FEATURES: tuple[tuple[str, dict[str, Any], dict[str, Any], float], ...] = (
    (
        "client CPU per call, circuit breaker on / off",
        {"circuit_breaker": True},
        {"circuit_breaker": False},
        1.02,
    ),
)


def overheads(plan: Plan) -> list[Row]:
    rows = []
    with ServerProcess() as server:
        ca = demo_ca()
        for metric, on, off, target in FEATURES:
            rows.append(_feature(server.url, ca, plan, metric, on, off, target))
    return rows


def _feature(
    url: str,
    ca: str,
    plan: Plan,
    metric: str,
    on: dict[str, Any],
    off: dict[str, Any],
    target: float,
) -> Row:
    _, with_it = soapguard_service(url, ca_bundle=ca, **on)
    _, without = soapguard_service(url, ca_bundle=ca, **off)
    variants: dict[str, Callable[[], object]] = {
        "off": lambda: without.GetBalance(account="42"),
        "on": lambda: with_it.GetBalance(account="42"),
    }
    for call in variants.values():
        for _ in range(WARMUP_CALLS):
            call()
    per_call = interleaved(variants, blocks=plan.cpu_blocks, per_block=plan.cpu_calls)
    spread = Spread.of(ratios(per_call["on"], per_call["off"]))
    return Row(
        section="9 overheads",
        metric=metric,
        result=spread.ratio_text(),
        target=f"<= {target}x",
        status=judged(spread.median <= target),
        detail=(
            f"median {us(Spread.of(per_call['on']).median)} vs "
            f"{us(Spread.of(per_call['off']).median)}; "
            f"{plan.cpu_blocks} blocks x {plan.cpu_calls} calls, ABBA"
        ),
        data={"ratio": vars(spread), "on_s": per_call["on"], "off_s": per_call["off"]},
    )
