"""retry.window: sliding counts in constant memory."""

from __future__ import annotations

import pytest

from soapguard.retry.breaker import Breaker
from soapguard.retry.budget import RetryBudget
from soapguard.retry.window import Window


def test_counts_and_forgets_whole_buckets() -> None:
    w = Window(10.0, buckets=10)  # 1 s buckets
    w.add(0.2)
    w.add(0.7, failed=True)
    w.add(5.0)
    assert (w.count, w.failures) == (3, 1)
    w.trim(10.99)  # the [0, 1) bucket ends 10 s before 11.0, not yet before 10.99
    assert w.count == 3
    w.trim(11.0)
    assert (w.count, w.failures) == (1, 0)
    w.trim(16.0)
    assert (w.count, w.failures) == (0, 0)


def test_since_counts_the_recent_buckets() -> None:
    w = Window(10.0, buckets=100)  # 0.1 s buckets
    for t in (1.0, 8.95, 9.5, 9.9):
        w.add(t)
    assert w.since(10.0, 1.0) == 3  # 8.95 is within the bucket that overlaps 9.0
    assert w.since(10.0, 0.3) == 1


def test_memory_stays_constant_however_many_events() -> None:
    w = Window(30.0, buckets=30)
    for i in range(200_000):  # 2,000 events a second for 100 s
        w.add(i / 2000, failed=i % 3 == 0)
    assert len(w._slots) <= 31
    assert 58_000 <= w.count <= 62_000  # 30 s (+ one bucket) of 2,000/s


def test_a_breaker_under_heavy_load_keeps_a_bounded_window() -> None:
    now = [0.0]
    breaker = Breaker(
        failure_ratio=0.5, min_calls=10, window=30.0, open_seconds=5, clock=lambda: now[0]
    )
    for i in range(100_000):
        now[0] = i / 1000
        assert breaker.record(False, probe=False) is None
    assert len(breaker._outcomes._slots) <= 31
    assert breaker.snapshot().calls <= 31_000


def test_the_budget_floor_still_counts_one_second() -> None:
    now = [100.0]
    budget = RetryBudget(ratio=0.0, floor_per_second=10, clock=lambda: now[0])
    assert sum(budget.try_spend() for _ in range(15)) == 10
    now[0] += 1.2  # a new second: the floor allows ten more
    assert sum(budget.try_spend() for _ in range(15)) == 10


@pytest.mark.parametrize(("window", "buckets"), [(0, 10), (-1, 10), (10, 0)])
def test_bad_shapes_are_refused(window: float, buckets: int) -> None:
    with pytest.raises(ValueError):
        Window(window, buckets)
