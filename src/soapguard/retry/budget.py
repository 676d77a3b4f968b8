"""The retry budget: how many retries an endpoint may get, so a failing one gets no storm.

Like Finagle's retry budget: a healthy endpoint can always retry a little (the floor),
a failing one cannot multiply its load by more than ``1 + ratio``.  Kept per client
and endpoint, thread-safe, with an injectable clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


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
        self._calls: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _trim(self, now: float) -> None:
        horizon = now - self.window
        for queue in (self._calls, self._retries):
            while queue and queue[0] <= horizon:
                queue.popleft()

    def _last_second(self, now: float) -> int:
        count = 0
        for when in reversed(self._retries):
            if when <= now - 1.0:
                break
            count += 1
        return count

    def record_call(self) -> None:
        with self._lock:
            now = self._clock()
            self._trim(now)
            self._calls.append(now)

    def try_spend(self) -> bool:
        """Take one retry from the budget if there is one left."""
        with self._lock:
            now = self._clock()
            self._trim(now)
            by_ratio = len(self._retries) + 1 <= self.ratio * len(self._calls)
            if not by_ratio and self._last_second(now) + 1 > self.floor_per_second:
                return False
            self._retries.append(now)
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
