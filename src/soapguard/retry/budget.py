"""The retry budget: how many retries an endpoint may get, so a failing one gets no storm.

Like Finagle's retry budget: a healthy endpoint can always retry a little (the floor),
a failing one cannot multiply its load by more than ``1 + ratio``.  Kept per client
and endpoint, thread-safe, with an injectable clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .window import Window


class RetryBudget:
    """Retries allowed per endpoint: ``ratio`` x its calls over ``window`` s, plus a floor.

    The floor lets a healthy endpoint always retry a little: at most
    ``floor_per_second`` retries in any one second, whatever the ratio allows.  So a
    failing endpoint cannot get more than ``1 + ratio`` times its load, and a burst of
    failures cannot take more than the floor at once.  Thread-safe; time comes from an
    injectable clock.
    """

    def __init__(
        self,
        ratio: float,
        floor_per_second: float,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ratio = ratio
        self.floor_per_second = floor_per_second
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        # tenth-of-a-second buckets, so the floor's "any one second" is counted closely
        buckets = max(1, round(window * 10))
        self._calls = Window(window, buckets)
        self._retries = Window(window, buckets)

    def record_call(self) -> None:
        with self._lock:
            self._calls.add(self._clock())

    def try_spend(self) -> bool:
        """Take one retry from the budget if there is one left."""
        with self._lock:
            now = self._clock()
            calls, retries = self._calls, self._retries
            calls.trim(now)
            retries.trim(now)
            by_ratio = retries.count + 1 <= self.ratio * calls.count
            if not by_ratio and retries.since(now, 1.0) + 1 > self.floor_per_second:
                return False
            retries.add(now)
            return True


class BudgetRegistry:
    """One :class:`RetryBudget` per endpoint (``scheme://host:port``)."""

    def __init__(
        self, ratio: float, floor_per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ratio = ratio
        self._floor = floor_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._budgets: dict[str, RetryBudget] = {}

    def for_endpoint(self, endpoint: str) -> RetryBudget:
        with self._lock:
            budget = self._budgets.get(endpoint)
            if budget is None:
                budget = RetryBudget(self._ratio, self._floor, clock=self._clock)
                self._budgets[endpoint] = budget
            return budget
