"""Measurement primitives: interleaved blocks, spreads of ratios, result rows, process facts.

This machine class is noisy (identical code drifts by several percent from run
to run, and other work on the machine comes and goes), so comparisons are
never "run A, then run B": :func:`interleaved` alternates the variants call by
call in ABBA order within each block, and a comparison is reported as the
median of the per-block ratios with their min-max range.
"""

from __future__ import annotations

import gc
import os
import platform
import ssl
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["PASS", "MISS", "info"]


@dataclass(frozen=True)
class Spread:
    """Median and range of a sample."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no values")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def ratio_text(self) -> str:
        return f"{self.median:.3f}x ({self.low:.3f}-{self.high:.3f})"


@dataclass
class Row:
    """One line of the final table."""

    section: str
    metric: str
    result: str
    target: str
    status: Status
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def judged(ok: bool) -> Status:
    return "PASS" if ok else "MISS"


def interleaved(
    variants: Mapping[str, Callable[[], object]],
    *,
    blocks: int,
    per_block: int,
    clock: Callable[[], float] = time.process_time,
    prepare: Callable[[str], object] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each variant, one mean per block.

    Inside a block the variants alternate call by call in ABBA order, so slow
    drift (other processes, CPU frequency) hits them alike; each call is
    timed on its own.  ``prepare(name)`` runs untimed before every call of
    variant ``name``: to drop its pooled connections, or to switch a
    monkeypatch on for it (and off for the others).  A garbage collection and
    one untimed call of each variant precede every block, and which variant
    leads alternates from block to block.
    """
    names = list(variants)
    per_call: dict[str, list[float]] = {name: [] for name in names}
    for block in range(blocks):
        gc.collect()
        first = names if block % 2 == 0 else names[::-1]
        for name in first:  # untimed: the first calls after a collection run cold
            if prepare is not None:
                prepare(name)
            variants[name]()
        spent = dict.fromkeys(names, 0.0)
        for i in range(per_block):
            for name in first if i % 2 == 0 else reversed(first):
                if prepare is not None:
                    prepare(name)
                call = variants[name]
                start = clock()
                call()
                spent[name] += clock() - start
        for name in names:
            per_call[name].append(spent[name] / per_block)
    return per_call


def ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """Per-block ratios of two equally long series."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def timed(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds ``fn()`` took."""
    start = clock()
    fn()
    return clock() - start


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} us"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def rss_bytes() -> int:
    """Resident set size of this process (``VmRSS``), in bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openssl": ssl.OPENSSL_VERSION,
        "platform": platform.platform(),
    }
