"""RecordStats: sizes appended in bulk by the tracer give exactly the per-record figures."""

from __future__ import annotations

import random
from typing import Any

import pytest

from soapguard.tls import trace
from soapguard.transport.evidence import FOLD_AT, RECENT_RECORDS, RecordStats


def _expected(sizes: list[int]) -> dict[str, Any]:
    return {
        "records": len(sizes),
        "bytes": sum(sizes),
        "largest": max(sizes, default=0),
        "recent": sizes[-RECENT_RECORDS:],
    }


def _seen_in(stats: RecordStats) -> dict[str, Any]:
    return {
        "records": stats.records_in,
        "bytes": stats.bytes_in,
        "largest": stats.largest_record_in,
        "recent": list(stats.recent_in),
    }


def _header(size: int) -> bytes:
    return bytes([23, 3, 3, size >> 8, size & 0xFF])


class _Socket:
    """What the tracer is handed: an object it may keep its statistics on."""


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, FOLD_AT - 1, FOLD_AT, 3 * FOLD_AT + 5])
def test_the_tracers_figures_are_exact_across_folds(count: int) -> None:
    rng = random.Random(count)
    sizes_in = [rng.randint(1, 16_640) for _ in range(count)]
    conn = _Socket()
    for i, size in enumerate(sizes_in):
        trace._callback(conn, "read", 0x0304, 0x100, 23, _header(size))
        trace._callback(conn, "read", 0x0304, 0x101, 0, b"\x17")  # TLS 1.3 inner type
        if i % 3 == 0:
            trace._callback(conn, "write", 0x0304, 0x100, 23, _header(size // 2))
        if i == count // 2:  # an event read in the middle sees exactly what came so far
            stats = trace.stats_for(conn)
            assert stats is not None
            assert _seen_in(stats) == _expected(sizes_in[: i + 1])
    stats = trace.stats_for(conn)
    if count == 0:
        assert stats is None
        return
    assert stats is not None
    assert _seen_in(stats) == _expected(sizes_in)
    sizes_out = [size // 2 for i, size in enumerate(sizes_in) if i % 3 == 0]
    assert (stats.records_out, stats.bytes_out, stats.largest_record_out) == (
        len(sizes_out),
        sum(sizes_out),
        max(sizes_out),
    )
    assert list(stats.recent_out) == sizes_out[-RECENT_RECORDS:]
    # memory stays bounded however long the connection lives
    assert len(stats.sizes_in) < FOLD_AT
    assert len(stats.sizes_out) < FOLD_AT


def test_alerts_are_kept_per_direction_even_before_any_record() -> None:
    conn = _Socket()
    trace._callback(conn, "write", 0x0303, 21, 0, bytes([2, 20]))
    trace._callback(conn, "read", 0x0303, 21, 0, bytes([2, 40]))
    stats = trace.stats_for(conn)
    assert stats is not None
    assert (stats.alert_out, stats.alert_in) == ((2, 20), (2, 40))
    assert stats.records_in == 0


def test_stats_built_with_totals_add_what_is_recorded_later() -> None:
    stats = RecordStats(records_in=12, bytes_in=1000, largest_record_in=600, alert_out=(2, 20))
    stats.record_in(700)
    stats.record_out(40)
    assert (stats.records_in, stats.bytes_in, stats.largest_record_in) == (13, 1700, 700)
    assert list(stats.recent_in) == [700]
    assert (stats.records_out, stats.bytes_out, stats.alert_out) == (1, 40, (2, 20))
    assert "records_in=13" in repr(stats)
