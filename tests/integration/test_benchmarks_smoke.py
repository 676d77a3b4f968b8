"""Smoke test of benchmarks/run.py: every section runs and reports (no timing is asserted).

The script runs as a subprocess with tiny counts, as a user would run it; the
pure helpers (plan scaling, ABBA interleaving, spreads, the markdown table)
are checked in-process with a fake clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
SECTIONS = (
    "keep-alive",
    "new-connection",
    "recovery",
    "record-caps",
    "memory",
    "diagnostics",
    "import-time",
    "redaction",
    "overheads",
    "async",
    "pool-checks",
    "threads",
    "startup",
    "profile",
)


@pytest.fixture
def bench_path() -> Iterator[None]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.timeout(180)
def test_quick_run_prints_every_section_and_a_table(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--scale", "0.3",
         "--profile", "--json", str(report)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=170,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for key in ("cpu:", "cores:", "python:", "openssl:", "server:"):
        assert f"\n{key} " in out
    for name in SECTIONS:
        assert f"\n== {name}\n" in out
    assert "| section | metric | result | target | status | detail |" in out
    document = json.loads(report.read_text(encoding="utf-8"))
    rows = document["rows"]
    reported = {row["section"].split(" ", 1)[0] for row in rows}
    assert reported == {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13"}
    assert all(row["status"] in ("PASS", "MISS", "info") for row in rows)
    assert not [row for row in rows if row["metric"] == "section crashed"]
    # every judged row is in the markdown table, with its verdict
    for row in rows:
        assert f"| {row['status']} |" in out
    caps = [row for row in rows if row["section"] == "4 record caps" and "cap 512" in row["metric"]]
    assert caps
    for row in caps:  # where the cap was negotiated, the server's records honour it
        if row["data"]["max_fragment_length"] is not None:
            assert row["data"]["largest_record_in"] <= 512 + 17


def test_unknown_section_is_a_usage_error(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--only", "nonsense"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown section(s) nonsense" in done.stderr


@pytest.mark.usefixtures("bench_path")
def test_interleaved_alternates_abba_and_averages_per_block() -> None:
    from _measure import interleaved

    ticks = iter(range(10_000))
    order: list[str] = []
    cost = {"a": 1, "b": 3}

    def clock() -> float:
        return float(next(ticks))

    def variant(name: str) -> object:
        def call() -> None:
            order.append(name)
            for _ in range(cost[name] - 1):  # each extra clock read = one more tick of "work"
                clock()

        return call

    per_call = interleaved(
        {"a": variant("a"), "b": variant("b")}, blocks=2, per_block=2, clock=clock
    )
    # block 0: untimed a b, then a b | b a;  block 1 leads with b: untimed b a, then b a | a b
    assert order == ["a", "b", "a", "b", "b", "a", "b", "a", "b", "a", "a", "b"]
    assert per_call == {"a": [1.0, 1.0], "b": [3.0, 3.0]}


@pytest.mark.usefixtures("bench_path")
def test_spread_plan_scaling_and_markdown() -> None:
    from _measure import Row, Spread
    from _plan import Plan
    from run import markdown

    spread = Spread.of([0.9, 0.8, 1.2])
    assert (spread.median, spread.low, spread.high, spread.n) == (0.9, 0.8, 1.2, 3)
    assert spread.ratio_text() == "0.900x (0.800-1.200)"
    with pytest.raises(ValueError, match="no values"):
        Spread.of([])

    tiny = Plan.quick().scaled(0.01)
    assert tiny.cpu_blocks == 2
    assert tiny.trace_blocks == 2
    assert tiny.connect_blocks == 2
    assert tiny.memory_calls == 10
    assert tiny.recoveries == 1
    assert tiny.cap_sizes == Plan.quick().cap_sizes
    assert tiny.fault_rate == Plan.quick().fault_rate
    with pytest.raises(ValueError, match="scale"):
        Plan().scaled(0)

    table = markdown([Row("1 x", "a|b", "1.0x", "<= 2x", "PASS", "d")])
    assert table.splitlines()[2] == "| 1 x | a\\|b | 1.0x | <= 2x | PASS | d |"
