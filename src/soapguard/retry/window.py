"""Counts over a sliding time window in constant memory, for breakers and retry budgets.

Events are counted in fixed-width buckets (``window / buckets`` seconds each) instead of
being kept one by one, so a client making thousands of calls a second holds a few dozen
numbers per endpoint, not one entry per call.  The price is resolution: an event leaves
the window between ``window`` and ``window + width`` seconds after it happened.
"""

from __future__ import annotations

from collections import deque

__all__ = ["Window"]


class Window:
    """How many events (and how many of them failed) happened in the last ``window`` s.

    Not thread-safe by itself: its owner holds the lock.
    """

    __slots__ = ("_slots", "count", "failures", "width", "window")

    def __init__(self, window: float, buckets: int = 30) -> None:
        if window <= 0 or buckets < 1:
            raise ValueError("a window needs a positive length and at least one bucket")
        self.window = window
        self.width = window / buckets
        #: [bucket index, events, failures], oldest first
        self._slots: deque[list[int]] = deque()
        self.count = 0
        self.failures = 0

    def add(self, now: float, failed: bool = False) -> None:
        self.trim(now)
        index = int(now // self.width)
        slots = self._slots
        if slots and slots[-1][0] == index:
            slot = slots[-1]
            slot[1] += 1
            slot[2] += failed
        else:
            slots.append([index, 1, int(failed)])
        self.count += 1
        self.failures += failed

    def trim(self, now: float) -> None:
        """Forget the buckets that ended ``window`` seconds or more before ``now``."""
        # bucket i covers [i*width, (i+1)*width): gone once (i+1)*width <= now - window
        last_gone = (now - self.window) / self.width - 1
        slots = self._slots
        while slots and slots[0][0] <= last_gone:
            _, count, failures = slots.popleft()
            self.count -= count
            self.failures -= failures

    def clear(self) -> None:
        self._slots.clear()
        self.count = self.failures = 0

    def since(self, now: float, seconds: float) -> int:
        """Events in the buckets that overlap the last ``seconds`` seconds."""
        first = int((now - seconds) // self.width)
        total = 0
        for index, count, _ in reversed(self._slots):
            if index < first:
                break
            total += count
        return total
