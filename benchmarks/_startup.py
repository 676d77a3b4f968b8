"""Section 12: building a client from a local WSDL, soapguard vs zeep.

* second client: in a warm process (one client of each built already, so imports are
  done and soapguard's SSL context is cached for the configuration), a fresh
  ``soapguard.Client(wsdl)`` and a fresh ``zeep.Client(wsdl)`` are built alternately,
  ABBA, each timed on its own (client CPU); the target is <= 1.1x zeep's;
* first client: in a fresh interpreter each time (bytecode cached), the time to build
  the first client after the import, and from the start of the import to a built client,
  interleaved with zeep's.  Reported, not targeted: soapguard's first client builds its
  SSL context (CA bundle included), which every later client of that configuration
  shares.

Both use their defaults: ``soapguard.Client(wsdl)`` reads ``SOAPGUARD_*`` (none set by
the benchmark) and zeep builds its own transport.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable

import zeep
from _clients import WSDL
from _import import _environment
from _measure import Row, Spread, interleaved, judged, ms, ratios, us
from _plan import Plan

import soapguard

SECOND_CLIENT_TARGET = 1.1

#: what each child runs: import, then build one client; prints both durations (seconds)
_CHILD = """
import json, sys, time
start = time.perf_counter()
{imports}
imported = time.perf_counter()
{build}
built = time.perf_counter()
print(json.dumps([imported - start, built - imported]))
"""
_CHILDREN = {
    "zeep": {"imports": "import zeep", "build": "zeep.Client(sys.argv[1])"},
    "soapguard": {"imports": "from soapguard import Client", "build": "Client(sys.argv[1])"},
}


def startup(plan: Plan) -> list[Row]:
    """Second-client CPU in a warm process, and the cold first client, soapguard vs zeep."""
    return [_second_client(plan), *_first_client(plan)]


def _second_client(plan: Plan) -> Row:
    variants: dict[str, Callable[[], object]] = {
        "zeep": lambda: zeep.Client(WSDL),  # type: ignore[no-untyped-call]
        "soapguard": lambda: soapguard.Client(WSDL),
    }
    for build in variants.values():  # the first clients: imports done, contexts cached
        build()
    per_client = interleaved(variants, blocks=plan.startup_blocks, per_block=plan.startup_clients)
    spread = Spread.of(ratios(per_client["soapguard"], per_client["zeep"]))
    guard, bare = Spread.of(per_client["soapguard"]), Spread.of(per_client["zeep"])
    return Row(
        section="13 startup",
        metric="client CPU to build a second client from a local WSDL, soapguard / zeep",
        result=spread.ratio_text(),
        target=f"<= {SECOND_CLIENT_TARGET}x",
        status=judged(spread.median <= SECOND_CLIENT_TARGET),
        detail=(
            f"median {us(guard.median)} vs {us(bare.median)}; {plan.startup_blocks} blocks x "
            f"{plan.startup_clients} clients, ABBA; both with their defaults, fresh objects"
        ),
        data={"ratio": vars(spread), **{f"{k}_s": v for k, v in per_client.items()}},
    )


def _first_client(plan: Plan) -> list[Row]:
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in _CHILDREN}
    with tempfile.TemporaryDirectory(prefix="soapguard-pycache-") as cache:
        env = _environment(cache)
        for name in _CHILDREN:  # warm-up: compile and cache the bytecode
            _child(name, env)
        for i in range(max(1, plan.startup_runs)):
            for name in list(_CHILDREN) if i % 2 == 0 else reversed(list(_CHILDREN)):
                runs[name].append(_child(name, env))
    build = {name: [b for _, b in r] for name, r in runs.items()}
    total = {name: [a + b for a, b in r] for name, r in runs.items()}
    first = statistics.median(build["soapguard"]) / statistics.median(build["zeep"])
    whole = statistics.median(total["soapguard"]) / statistics.median(total["zeep"])
    n = len(build["zeep"])
    return [
        Row(
            section="13 startup",
            metric="first client in a fresh process (after the import), soapguard / zeep",
            result=f"{first:.2f}x",
            target="- (reported: builds the SSL context)",
            status="info",
            detail=(
                f"{ms(statistics.median(build['soapguard']))} vs "
                f"{ms(statistics.median(build['zeep']))}; median of {n} fresh interpreters"
            ),
            data={"ratio": first, "build_s": build},
        ),
        Row(
            section="13 startup",
            metric="import + first client in a fresh process, soapguard / zeep",
            result=f"{whole:.2f}x",
            target="- (reported)",
            status="info",
            detail=(
                f"{ms(statistics.median(total['soapguard']))} vs "
                f"{ms(statistics.median(total['zeep']))} (interpreter start excluded); "
                f"median of {n}"
            ),
            data={"ratio": whole, "total_s": total},
        ),
    ]


def _child(name: str, env: dict[str, str]) -> tuple[float, float]:
    """(import seconds, first-client seconds) of one fresh interpreter."""
    code = _CHILD.format(**_CHILDREN[name])
    done = subprocess.run(
        [sys.executable, "-c", code, WSDL],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    imported, built = json.loads(done.stdout.strip().splitlines()[-1])
    return float(imported), float(built)
