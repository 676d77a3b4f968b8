"""``--profile``: where a kept-alive call's CPU goes.

:func:`breakdown` profiles N calls of each client with cProfile (CPU clock) and
splits soapguard's exclusive time into categories, so the soapguard-specific
costs stand out from the zeep/requests/urllib3 work both clients pay.

(The first version of this module also A/B-measured five candidate fixes by
monkeypatching; all five are now in ``src/``, and their measured effects are
recorded in docs/benchmarks.md.)
"""

from __future__ import annotations

import cProfile
import pstats
import ssl
import time
from collections.abc import Callable
from typing import Any

from _clients import baseline_env, demo_ca, soapguard_service, zeep_service
from _measure import us
from _plan import Plan
from _servers import ServerProcess

#: the C-level setter, bypassing ssl.py's wrapper that converts three enums per record
_RAW_MSG_CALLBACK: Any = ssl.SSLContext.__mro__[1].__dict__["_msg_callback"]

_CATEGORIES: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("tenacity retry loop", lambda path, fn: "/tenacity/" in path),
    ("OpenTelemetry span (no SDK)", lambda path, fn: "/opentelemetry/" in path or "_otel" in path),
    (
        "record tracer (ssl.py wrapper + _trace)",
        lambda path, fn: (path.endswith("ssl.py") and fn == "inner") or "soapguard/_trace" in path,
    ),
    ("other soapguard code", lambda path, fn: "/soapguard/" in path),
)


def breakdown(plan: Plan) -> list[str]:
    """Per-call CPU by category for soapguard, and the top functions of both clients."""
    calls = plan.cpu_calls * 5
    lines: list[str] = []
    with ServerProcess() as server:
        ca = demo_ca()
        with baseline_env(ca):
            _, zeep_svc = zeep_service(server.url, ca)
            _, guard_svc = soapguard_service(server.url, ca_bundle=ca)
            for name, svc in (("zeep", zeep_svc), ("soapguard", guard_svc)):
                for _ in range(30):
                    svc.GetBalance(account="42")
                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
                for _ in range(calls):
                    svc.GetBalance(account="42")
                profiler.disable()
                stats = pstats.Stats(profiler)
                lines += _summarise(name, stats, calls)
    return lines


def _summarise(name: str, stats: pstats.Stats, calls: int) -> list[str]:
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    shares: dict[str, float] = {}
    for (path, _, fn), (_, _, tottime, _, callers) in raw.items():
        category = _category(path, fn, callers)
        shares[category] = shares.get(category, 0.0) + tottime
    out = [f"-- {name}: {us(total / calls)} CPU per call under cProfile (inflated by it)"]
    for category, seconds in sorted(shares.items(), key=lambda kv: -kv[1]):
        out.append(f"   {100 * seconds / total:5.1f}%  {us(seconds / calls):>8}  {category}")
    out.append("   top functions by own time:")
    top = sorted(raw.items(), key=lambda kv: -kv[1][2])[:12]
    for (path, line, fn), (_, ncalls, tottime, _, _) in top:
        short = path.rsplit("site-packages/", 1)[-1].rsplit("/lib/python3", 1)[-1]
        out.append(f"   {us(tottime / calls):>8}  {ncalls / calls:5.1f}/call  {short}:{line} {fn}")
    return out


def _category(path: str, fn: str, callers: dict[tuple[str, int, str], Any]) -> str:
    for category, matches in _CATEGORIES:
        if matches(path, fn):
            return category
    if path.endswith("enum.py") and any(
        c[0].endswith("ssl.py") and c[2] == "inner" for c in callers
    ):
        return "record tracer (ssl.py wrapper + _trace)"
    return "zeep, requests, urllib3, ssl, stdlib (both clients)"
