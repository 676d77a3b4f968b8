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
    """Retries allowed per endpoint: ``ratio`` x calls in the last ``window`` s, plus ``floor``/s.

    Like Finagle's retry budget: a healthy endpoint can always retry a little
    (the floor), a failing one cannot multiply its load by more than
    ``1 + ratio``.  Thread-safe; time comes from an injectable clock.
    """

    def __init__(
        self,
        ratio: float,
        floor_per_second: float,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ratio = ratio
        self.floor = floor_per_second * window
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
            if len(self._retries) + 1 > self.ratio * len(self._calls) + self.floor:
                return False
            self._retries.append(now)
            return True


class BudgetRegistry:
    """One :class:`RetryBudget` per endpoint (``scheme://host:port``)."""

    def __init__(self, ratio: float, floor_per_second: float) -> None:
        self._ratio = ratio
        self._floor = floor_per_second
        self._lock = threading.Lock()
        self._budgets: dict[str, RetryBudget] = {}

    def for_endpoint(self, endpoint: str) -> RetryBudget:
        with self._lock:
            budget = self._budgets.get(endpoint)
            if budget is None:
                budget = self._budgets[endpoint] = RetryBudget(self._ratio, self._floor)
            return budget
