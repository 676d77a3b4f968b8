"""``--profile``: where a kept-alive call's CPU goes, and A/B measurements of candidate fixes.

Two parts:

* :func:`breakdown` profiles N calls of each client with cProfile (CPU clock)
  and splits soapguard's exclusive time into categories, so the
  soapguard-specific costs stand out from zeep/requests/urllib3 work both pay.
* :func:`prototypes` measures candidate fixes *without touching src/*: each
  fix is a monkeypatch switched on and off block by block on the same client
  (ABBA), so the measured difference is the fix's alone.  The tenacity fix
  cannot be monkeypatched faithfully; its gain is measured as the cost of the
  ``tenacity.Retrying`` loop around a call that succeeds at once.
"""

from __future__ import annotations

import cProfile
import functools
import pstats
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
import tenacity
from _clients import baseline_env, demo_ca, soapguard_service, zeep_service
from _measure import Row, Spread, interleaved, ratios, us
from _plan import Plan
from _servers import ServerProcess

import soapguard._call
import soapguard._otel
import soapguard._trace
from soapguard._state import begin_attempt, current_progress, end_attempt
from soapguard.classify import mapped_errors

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


# -- prototypes ---------------------------------------------------------------------------


@contextmanager
def _patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    saved = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, saved)


def _fast_start_call_span(ctx: Any, *, tracer_provider: Any = None) -> Any:
    """Fix A: with no SDK installed the span would be a no-op: skip building it."""
    api = soapguard._otel._load()
    if api is not None and tracer_provider is None:
        trace = api[0]
        if isinstance(
            trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
        ):
            return soapguard._otel.CallSpan()
    return _ORIGINAL_START(ctx, tracer_provider=tracer_provider)


_ORIGINAL_START = soapguard._otel.start_call_span
_ORIGINAL_ENDPOINT = soapguard._call._endpoint


def prototypes(plan: Plan) -> list[Row]:
    """A/B each candidate fix on one soapguard client; then all fixes vs bare zeep."""
    rows: list[Row] = []
    with ServerProcess() as server:
        ca = demo_ca()
        with baseline_env(ca):
            _, zeep_svc = zeep_service(server.url, ca)
            guard_client, guard_svc = soapguard_service(server.url, ca_bundle=ca)
            ctx = guard_client.transport.adapter.ssl_context
            wrapped = ctx._msg_callback  # the ssl.py wrapper's user function

            def raw_callback(on: bool) -> None:
                if on:
                    _RAW_MSG_CALLBACK.__set__(ctx, soapguard._trace._callback)
                else:
                    ctx._msg_callback = wrapped

            transport = guard_client.transport
            fast_send = _fast_send_for(transport)

            def direct_prepare(on: bool) -> None:
                if on:
                    transport._send = fast_send
                else:
                    transport.__dict__.pop("_send", None)

            fixes: dict[str, Callable[[bool], None]] = {
                "A: skip the OTel span when no SDK is installed (_otel.start_call_span)": (
                    lambda on: setattr(
                        soapguard._otel,
                        "start_call_span",
                        _fast_start_call_span if on else _ORIGINAL_START,
                    )
                ),
                "B: record tracer set with the C-level setter (_trace.install)": raw_callback,
                "C: cache the endpoint key per URL (_call._endpoint)": (
                    lambda on: setattr(
                        soapguard._call, "_endpoint", _cached_endpoint if on else _ORIGINAL_ENDPOINT
                    )
                ),
                "E: prepare the POST directly, no Session.request merging (Transport._send)": (
                    direct_prepare
                ),
            }
            call = functools.partial(guard_svc.GetBalance, account="42")
            for _ in range(30):
                call()
            for label, switch in fixes.items():
                rows.append(_ab(label, switch, call, plan))
            runner = guard_client._sg_runner

            def bare_runner(on: bool) -> None:
                if on:
                    setattr(runner, "run", _bare_run)  # noqa: B010 - an instance attribute
                else:
                    runner.__dict__.pop("run", None)

            ceiling = _ab(
                "ceiling: CallRunner.run cut to begin/end_attempt (no retries)",
                bare_runner,
                call,
                plan,
            )
            ceiling.target = "-"
            rows.append(ceiling)
            rows.append(_tenacity_row(plan))

            def all_fixes(on: bool) -> None:
                for switch in fixes.values():
                    switch(on)

            all_fixes(True)
            try:
                variants: dict[str, Callable[[], object]] = {
                    "zeep": lambda: zeep_svc.GetBalance(account="42"),
                    "soapguard": call,
                }
                per_call = interleaved(variants, blocks=plan.cpu_blocks, per_block=plan.cpu_calls)
            finally:
                all_fixes(False)
    spread = Spread.of(ratios(per_call["soapguard"], per_call["zeep"]))
    rows.append(
        Row(
            section="1 keep-alive (prototype)",
            metric="soapguard with fixes A+B+C+E / zeep (tenacity fix D not included)",
            result=spread.ratio_text(),
            target="<= 0.85x",
            status="info",
            detail=f"median {us(Spread.of(per_call['soapguard']).median)} vs "
            f"{us(Spread.of(per_call['zeep']).median)}",
            data={"ratio": vars(spread)},
        )
    )
    return rows


def _fast_send_for(transport: Any) -> Callable[..., requests.Response]:
    """Fix E (sketch): build the PreparedRequest directly and hand it to ``Session.send``.

    ``Session.request`` spends a fifth of a small call merging session settings
    (``merge_setting`` runs a runtime-checkable Protocol ``isinstance`` per
    value in requests 2.34) and environment settings soapguard does not use.
    The real fix would take this path only while the session has no auth,
    params, cookies or non-default hooks (else the current path), so cookies,
    redirects and hooks behave as in requests; the prototype skips that check.
    """
    session = transport.session

    def fast_send(
        address: str, message: bytes | str, headers: dict[str, str], standalone: bool = False
    ) -> requests.Response:
        progress = current_progress()
        timeout = progress.timeout if progress and progress.timeout else transport.operation_timeout
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method="POST", url=address, headers={**session.headers, **headers}, data=message
        )
        with mapped_errors(progress):
            response: requests.Response = session.send(
                prepared,
                timeout=timeout,
                proxies=transport._proxies_for(address),
                verify=session.verify,
                cert=session.cert,
                stream=False,
                allow_redirects=True,
            )
        return response

    return fast_send


def _bare_run(fn: Callable[[], Any], ctx: Any) -> Any:
    """What a call costs with no retry machinery at all (a ceiling, not a fix)."""
    _, token = begin_attempt()
    try:
        return fn()
    finally:
        end_attempt(token)


@functools.lru_cache(maxsize=256)
def _cached_endpoint(url: str) -> str:
    return _ORIGINAL_ENDPOINT(url)


def _ab(label: str, switch: Callable[[bool], None], call: Callable[[], object], plan: Plan) -> Row:
    try:
        per_call = interleaved(
            {"off": call, "on": call},
            blocks=plan.cpu_blocks,
            per_block=plan.cpu_calls,
            prepare=lambda name: switch(name == "on"),
        )
    finally:
        switch(False)
    spread = Spread.of(ratios(per_call["on"], per_call["off"]))
    saved = Spread.of([a - b for a, b in zip(per_call["off"], per_call["on"], strict=True)])
    return Row(
        section="1 keep-alive (prototype)",
        metric=label,
        result=spread.ratio_text(),
        target="< 1x",
        status="info",
        detail=f"saves {us(saved.median)} per call (median of blocks)",
        data={"ratio": vars(spread), "saved_s": vars(saved)},
    )


def _tenacity_row(plan: Plan) -> Row:
    """Fix D's gain: a tenacity.Retrying loop around a call that succeeds, vs a plain call."""
    wait = tenacity.wait_random_exponential(multiplier=0.05, max=2.0)

    def with_tenacity() -> object:
        retrying = tenacity.Retrying(
            sleep=time.sleep,
            stop=tenacity.stop_never,
            wait=wait,
            retry=lambda rs: False,
            before_sleep=lambda rs: None,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                result = len("payload")
        return result

    def plain() -> object:
        return len("payload")

    n = plan.cpu_calls * 10
    per_call = interleaved(
        {"plain": plain, "tenacity": with_tenacity}, blocks=plan.cpu_blocks, per_block=n
    )
    cost = Spread.of([a - b for a, b in zip(per_call["tenacity"], per_call["plain"], strict=True)])
    return Row(
        section="1 keep-alive (prototype)",
        metric="D: first attempt outside tenacity.Retrying (_call.CallRunner.run)",
        result=f"saves {us(cost.median)}",
        target="-",
        status="info",
        detail=f"cost of the Retrying loop around an immediate success ({cost.low * 1e6:.0f}-"
        f"{cost.high * 1e6:.0f} us); measured in isolation, not monkeypatched",
        data={"cost_s": vars(cost)},
    )
