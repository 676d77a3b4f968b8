"""Thread-safe source of faults for the proxy: a FIFO queue plus optional random faults.

Faults are *taken* at decision points: per-connection faults when a connection
is accepted, per-request faults when a request starts.  A queued fault that
matches the decision point wins; otherwise a random fault may be drawn.  When
random faults are configured, one draw happens at every decision point that has
candidates, whether or not a queued fault wins, so a seed yields the same
choices for the same sequence of connections and requests.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from .faults import Fault, Scope


@dataclass(frozen=True)
class Taken:
    fault: Fault
    #: True if it came from the queue (and may be put back), False if drawn at random
    queued: bool


@dataclass(eq=False)
class _Entry:
    fault: Fault
    times: int


class FaultQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[_Entry] = deque()
        self._rate = 0.0
        self._kinds: tuple[Fault, ...] = ()
        self._rng = random.Random()

    def add(self, fault: Fault, times: int = 1) -> None:
        if not isinstance(fault, Fault):
            raise TypeError(f"expected a Fault, got {type(fault).__name__}")
        if type(times) is not int or times < 1:
            raise ValueError(f"times must be an integer >= 1, got {times!r}")
        with self._lock:
            self._queue.append(_Entry(fault, times))

    def set_random(self, rate: float, kinds: Sequence[Fault], seed: int | None) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"rate must be a number between 0 and 1, got {rate!r}")
        chosen = tuple(kinds)
        if not chosen and rate > 0:
            raise ValueError("kinds must contain at least one Fault when rate > 0")
        for fault in chosen:
            if not isinstance(fault, Fault):
                raise TypeError(f"kinds must hold Fault values, got {type(fault).__name__}")
        with self._lock:
            self._rate = float(rate)
            self._kinds = chosen
            self._rng = random.Random(seed)

    def clear(self) -> None:
        """Drop queued faults and switch random faults off."""
        with self._lock:
            self._queue.clear()
            self._rate = 0.0
            self._kinds = ()

    def pending(self) -> tuple[Fault, ...]:
        """Queued faults in order, each repeated by its remaining count (capped at 1000)."""
        with self._lock:
            out: list[Fault] = []
            for entry in self._queue:
                out.extend([entry.fault] * min(entry.times, 1000 - len(out)))
            return tuple(out)

    def take(self, scope: Scope, tls: bool | None) -> Taken | None:
        """Take the fault for one decision point.

        ``tls`` is whether the connection speaks TLS (None: not known yet);
        faults that need TLS records are never handed out for plain TCP, nor faults
        that need plaintext HTTP for TLS.
        """

        def fits(fault: Fault) -> bool:
            if fault.scope != scope:
                return False
            return not (tls is False and fault.needs_tls) and not (tls and fault.needs_plain)

        with self._lock:
            drawn: Fault | None = None
            if self._rate > 0:
                candidates = [fault for fault in self._kinds if fits(fault)]
                if candidates:
                    hit = self._rng.random() < self._rate
                    pick = self._rng.choice(candidates)
                    drawn = pick if hit else None
            for entry in self._queue:
                if fits(entry.fault):
                    entry.times -= 1
                    if entry.times == 0:
                        self._queue.remove(entry)
                    return Taken(entry.fault, queued=True)
            return Taken(drawn, queued=False) if drawn is not None else None

    def put_back(self, fault: Fault) -> None:
        """Return a queued fault that turned out not to apply, at the head of the queue."""
        with self._lock:
            self._queue.appendleft(_Entry(fault, 1))
