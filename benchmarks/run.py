"""soapguard benchmarks: soapguard vs bare zeep, measured in the same run.

Usage::

    PYTHONPATH=src python benchmarks/run.py [--quick] [--only NAME[,NAME...]]
                                            [--scale F] [--profile] [--json FILE]

Sections: keep-alive, new-connection, recovery, record-caps, memory,
diagnostics, import-time, redaction, overheads, async, pool-checks, threads, startup (all by
default),
and profile (only with
``--profile`` or ``--only profile``: a cProfile breakdown of a kept-alive
call).  Every section prints its rows as it finishes; a
markdown table of all rows closes the run.  Exit status: 0 when every section
ran (whether or not it met its target), 1 when one crashed, 2 on bad usage.
See docs/benchmarks.md for the method.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(_HERE))

from _async import async_client  # noqa: E402
from _calls import keep_alive, new_connection, tracing_cost  # noqa: E402
from _import import import_time  # noqa: E402
from _measure import Row, machine  # noqa: E402
from _overheads import overheads  # noqa: E402
from _plan import Plan  # noqa: E402
from _pool import pool_checks  # noqa: E402
from _profile import breakdown  # noqa: E402
from _redaction import redaction  # noqa: E402
from _resilience import memory, recovery  # noqa: E402
from _startup import startup  # noqa: E402
from _threads import threads  # noqa: E402
from _transfer import record_caps  # noqa: E402

SERVER = (
    "canned TLS HTTP/1.1 keep-alive server (Python ssl + threads, demo certificate) in a "
    "spawned child process; FaultProxy, where used, in that child too"
)


def _profile_section(plan: Plan) -> list[Row]:
    for line in breakdown(plan):
        print(line, flush=True)
    return []


SECTIONS: dict[str, Callable[[Plan], list[Row]]] = {
    "keep-alive": keep_alive,
    "new-connection": new_connection,
    "recovery": recovery,
    "record-caps": record_caps,
    "memory": memory,
    "diagnostics": tracing_cost,
    "import-time": lambda plan: import_time(plan.import_runs),
    "redaction": lambda plan: redaction(plan.redaction_runs),
    "overheads": overheads,
    "async": async_client,
    "pool-checks": pool_checks,
    "threads": threads,
    "startup": startup,
    "profile": _profile_section,
}
DEFAULT = [name for name in SECTIONS if name != "profile"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (< 30 s)")
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count by F")
    parser.add_argument("--profile", action="store_true", help="add the profile section")
    parser.add_argument("--json", metavar="FILE", help="also write all rows as JSON")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(DEFAULT)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    if args.profile and "profile" not in names:
        names.append("profile")
    if not args.scale > 0:
        parser.error("--scale must be > 0")
    args.sections = names
    return args


def markdown(rows: list[Row]) -> str:
    """The rows as a markdown table (pipes in cells escaped)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| section | metric | result | target | status | detail |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = (r.section, r.metric, r.result, r.target, r.status, r.detail)
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    plan = Plan.quick() if args.quick else Plan()
    if args.scale != 1.0:
        plan = plan.scaled(args.scale)
    facts = machine()
    print("# soapguard benchmarks" + (" (quick)" if args.quick else ""))
    for key, value in facts.items():
        print(f"{key}: {value}")
    print(f"server: {SERVER}")
    print(f"sections: {', '.join(args.sections)}", flush=True)
    rows: list[Row] = []
    crashed: list[str] = []
    started = time.perf_counter()
    for name in args.sections:
        print(f"\n== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            new_rows = SECTIONS[name](plan)
        except Exception as exc:
            traceback.print_exc()
            crashed.append(name)
            new_rows = [Row(name, "section crashed", repr(exc)[:200], "-", "MISS")]
        for row in new_rows:
            print(f"{row.status:4}  {row.metric}: {row.result}  [target {row.target}]")
            if row.detail:
                print(f"      {row.detail}")
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
        rows += new_rows
    print(f"\n== table (total {time.perf_counter() - started:.0f} s)\n")
    print(markdown(rows))
    if args.json:
        document = {
            "machine": facts,
            "server": SERVER,
            "quick": args.quick,
            "rows": [r.as_dict() for r in rows],
        }
        Path(args.json).write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    if crashed:
        print(f"\ncrashed: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
