"""Circuit breakers: one per client and endpoint, so a down endpoint is not hammered.

A breaker counts, over a sliding time window (in constant memory, see
:mod:`soapguard.retry.window`), how the calls that went to its endpoint
ended: a call's outcome counts once, as *failed* when the endpoint looked unhealthy
(:func:`soapguard.retry.rules.endpoint_health` says which failures do).  When at least
``min_calls`` calls ended in the window and the failed share reaches ``failure_ratio``,
the breaker opens for ``open_seconds``: calls skip the endpoint (to an alternate, or
fail fast with ``circuit.open``).  Then one call is let through as a probe (half-open):
its outcome closes the breaker or opens it again; a probe that ends without an outcome
(cancelled, deadline, a failure that says nothing about the endpoint) opens it again.

Thread- and task-safe (a lock per breaker); time comes from an injectable clock.  A
breaker does no I/O and emits nothing itself: its transitions are returned to the
caller, who tells the operator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..config import Config
from .window import Window

State = Literal["closed", "open", "half_open"]

__all__ = ["Breaker", "BreakerRegistry", "Snapshot", "State", "Transition"]


@dataclass(frozen=True)
class Transition:
    """The breaker changed state: ``opened`` (with the counts that opened it) or ``closed``."""

    kind: Literal["opened", "closed"]
    calls: int
    failures: int
    open_seconds: float


@dataclass(frozen=True)
class Snapshot:
    """What a breaker looks like right now."""

    state: State
    #: seconds until the next probe is allowed (None when not open)
    retry_after_s: float | None
    calls: int
    failures: int
    #: the counts over the window when it last opened
    opened_calls: int = 0
    opened_failures: int = 0


class Breaker:
    """The breaker of one endpoint."""

    def __init__(
        self,
        *,
        failure_ratio: float,
        min_calls: int,
        window: float,
        open_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self.failure_ratio = failure_ratio
        self.min_calls = min_calls
        self.window = window
        self.open_seconds = open_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._outcomes = Window(window)
        self._state: State = "closed"
        self._open_until = 0.0
        self._probing = False
        self._opened = (0, 0)

    def acquire(self) -> Literal["allowed", "probe", "denied"]:
        """May a call go to this endpoint now?  ``probe``: yes, as the half-open probe."""
        with self._lock:
            if self._state == "closed":
                return "allowed"
            if self._state == "open" and self._clock() >= self._open_until:
                self._state = "half_open"
            if self._state == "half_open" and not self._probing:
                self._probing = True
                return "probe"
            return "denied"

    def record(self, failed: bool | None, *, probe: bool) -> Transition | None:
        """One call's outcome here: ``True`` failed, ``False`` succeeded, ``None`` no outcome.

        ``probe`` says the call held the half-open permit.
        """
        with self._lock:
            now = self._clock()
            if probe:
                self._probing = False
                if failed is False:
                    self._state = "closed"
                    self._outcomes.clear()
                    return Transition("closed", *self._opened, self.open_seconds)
                return self._open(now)
            if failed is None or self._state != "closed":
                return None
            outcomes = self._outcomes
            outcomes.add(now, failed)
            calls, failures = outcomes.count, outcomes.failures
            if calls >= self.min_calls and failures >= self.failure_ratio * calls:
                self._opened = (calls, failures)
                return self._open(now)
            return None

    def _open(self, now: float) -> Transition:
        self._state = "open"
        self._open_until = now + self.open_seconds
        return Transition("opened", *self._opened, self.open_seconds)

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = self._clock()
            self._outcomes.trim(now)
            state = self._state
            if state == "open" and now >= self._open_until:
                state = "half_open"  # the next call will be the probe
            left = max(self._open_until - now, 0.0) if state == "open" else None
            outcomes = self._outcomes
            return Snapshot(state, left, outcomes.count, outcomes.failures, *self._opened)


class BreakerRegistry:
    """The breakers of one client, by endpoint URL; ``None`` entries when switched off."""

    def __init__(self, config: Config, clock: Callable[[], float]) -> None:
        self.enabled = config.circuit_breaker
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, Breaker] = {}

    def get(self, endpoint: str) -> Breaker | None:
        if not self.enabled:
            return None
        with self._lock:
            breaker = self._breakers.get(endpoint)
            if breaker is None:
                cfg = self._config
                breaker = self._breakers[endpoint] = Breaker(
                    failure_ratio=cfg.breaker_failure_ratio,
                    min_calls=cfg.breaker_min_calls,
                    window=cfg.breaker_window,
                    open_seconds=cfg.breaker_open_seconds,
                    clock=self._clock,
                )
            return breaker

    def snapshot(self) -> dict[str, Snapshot]:
        with self._lock:
            breakers = dict(self._breakers)
        return {endpoint: breaker.snapshot() for endpoint, breaker in breakers.items()}
