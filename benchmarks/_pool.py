"""Section 9: what the pool's idle and age checks cost a kept-alive call.

Each call takes its connection from the pool, where soapguard asks whether it sat idle
too long or grew too old (``is_connected``), and gives it back, where soapguard stamps
the time (``_put_conn``).  The same client runs with those checks on and, switched off
untimed before each of its calls, with urllib3's plain versions; ABBA blocks as in
section 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _calls import WARMUP_CALLS
from _clients import demo_ca, soapguard_service
from _measure import Row, Spread, interleaved, judged, ratios, us
from _plan import Plan
from _servers import ServerProcess
from urllib3 import HTTPConnectionPool
from urllib3.connection import HTTPConnection

from soapguard.transport import connection

POOL_CHECKS_TARGET = 1.02


class _Checks:
    """Switches the checks on and off on the mixins every soapguard connection and pool use."""

    def __init__(self) -> None:
        self.on: dict[tuple[type, str], Any] = {
            (connection._Instrumented, "is_connected"): connection._Instrumented.is_connected,
            (connection._GuardedPool, "_put_conn"): connection._GuardedPool._put_conn,
        }
        self.off: dict[tuple[type, str], Any] = {
            (connection._Instrumented, "is_connected"): HTTPConnection.is_connected,
            (connection._GuardedPool, "_put_conn"): HTTPConnectionPool._put_conn,
        }

    def use(self, name: str) -> None:
        for (owner, attribute), value in (self.on if name == "checks" else self.off).items():
            setattr(owner, attribute, value)


def pool_checks(plan: Plan) -> list[Row]:
    """Client CPU per kept-alive call with the idle/age checks on vs off."""
    checks = _Checks()
    try:
        with ServerProcess() as server:
            _, service = soapguard_service(server.url, ca_bundle=demo_ca())
            call: Callable[[], object] = lambda: service.GetBalance(account="42")  # noqa: E731
            variants = {"checks": call, "plain": call}
            for name in variants:
                checks.use(name)
                for _ in range(WARMUP_CALLS):
                    call()
            per_call = interleaved(
                variants, blocks=plan.pool_blocks, per_block=plan.pool_calls, prepare=checks.use
            )
    finally:
        checks.use("checks")
    spread = Spread.of(ratios(per_call["checks"], per_call["plain"]))
    on, off = Spread.of(per_call["checks"]), Spread.of(per_call["plain"])
    return [
        Row(
            section="11 pool checks",
            metric="client CPU per kept-alive call, idle/age checks on / off",
            result=spread.ratio_text(),
            target=f"<= {POOL_CHECKS_TARGET}x",
            status=judged(spread.median <= POOL_CHECKS_TARGET),
            detail=(
                f"median {us(on.median)} vs {us(off.median)}; "
                f"{plan.pool_blocks} blocks x {plan.pool_calls} calls, ABBA, one client"
            ),
            data={"ratio": vars(spread), "on_s": per_call["checks"], "off_s": per_call["plain"]},
        )
    ]
