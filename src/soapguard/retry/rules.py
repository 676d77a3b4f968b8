"""Retry rules (SPEC §5): what may be retried, how long to wait, and the retry budget.

Small composable pieces in the spirit of tenacity, used by :mod:`soapguard._call`:

* :func:`decide` -- the whole rule set as one pure function of the evidence;
* :class:`RetryBudget` -- per-endpoint ratio of retries to calls over a 10 s
  window plus a floor, thread-safe, so a failing endpoint gets no retry storm;
* :func:`idempotent` -- the per-call override, thread- and task-local.

The rules, in order: deterministic failures are never retried (a handshake the
peer's messages broke, whichever side noticed, fails the same way next time); a
request that never left (``request_sent: none``) is retried for any operation
(transparent, not charged to the budget), except a proxy's refusal of the tunnel
other than 502/503/504; anything that may have reached the server is retried only
for idempotent operations and only for transient failures; then attempts, the
deadline and the budget bound the loop.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from ..config import Config
from ..transport.evidence import Failure

Reason = Literal[
    "idempotent",
    "not_sent",
    "not_idempotent",
    "non_retryable",
    "attempts_exhausted",
    "deadline",
    "budget",
]

#: transient failures worth a retry once the request may have reached the server
TRANSIENT_TYPES = frozenset(
    {"tls.bad_record_mac", "tls.unexpected_eof", "connection.reset", "timeout.read"}
)
TRANSIENT_STATUSES = frozenset({502, 503, 504})
#: deterministic: retrying cannot help, whatever was sent
NEVER_RETRIED = frozenset(
    {
        "tls.certificate",
        "tls.protocol_version",
        "tls.no_shared_cipher",
        "tls.handshake_failure",
        "tls.record_overflow",
        "soap.fault",
        "response.invalid",
        "timeout.deadline",
    }
)


@dataclass(frozen=True)
class Decision:
    retry: bool
    reason: Reason
    #: seconds to sleep before the next attempt (0 when not retrying)
    sleep: float = 0.0

    @property
    def transparent(self) -> bool:
        """A retry of a request that never left: free of budget, allowed for writes."""
        return self.retry and self.reason == "not_sent"


def is_transient(failure: Failure) -> bool:
    if failure.type == "http.status":
        return failure.http_status in TRANSIENT_STATUSES
    return failure.type in TRANSIENT_TYPES


def decide(
    failure: Failure,
    *,
    idempotent: bool,
    attempt: int,
    max_attempts: int,
    remaining: float,
    sleep: float,
    budget: RetryBudget | None = None,
) -> Decision:
    """Apply SPEC §5 to one failed attempt.

    ``attempt`` is 1-based, ``remaining`` the seconds left before the deadline,
    ``sleep`` the proposed backoff.  The budget is only consulted (and only
    charged) when every other rule says yes.
    """
    if failure.type in NEVER_RETRIED:
        return Decision(
            False, "deadline" if failure.type == "timeout.deadline" else "non_retryable"
        )
    transparent = failure.request_sent == "none"
    if not transparent:
        if not is_transient(failure):
            return Decision(False, "non_retryable")
        if not idempotent:
            return Decision(False, "not_idempotent")
    elif failure.type == "http.status" and not is_transient(failure):
        # nothing reached the server (a proxy refused the tunnel): only its gateway
        # errors are worth another try; a 407 wants credentials, not a retry
        return Decision(False, "non_retryable")
    if attempt >= max_attempts:
        return Decision(False, "attempts_exhausted")
    if failure.retry_after is not None:
        sleep = max(sleep, failure.retry_after)
    if sleep >= remaining:
        return Decision(False, "deadline")
    if not transparent and budget is not None and not budget.try_spend():
        return Decision(False, "budget")
    return Decision(True, "not_sent" if transparent else "idempotent", sleep)


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


_override: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "soapguard_idempotent", default=None
)


@contextlib.contextmanager
def idempotent(value: bool = True) -> Iterator[None]:
    """Declare the calls made inside the block idempotent (or, with ``False``, not).

    Thread- and asyncio-task-local; nests; wins over ``SOAPGUARD_IDEMPOTENT_OPERATIONS``::

        with soapguard.idempotent():
            client.service.Transfer(..., requestId=unique_id)   # safe to replay: server dedups
    """
    token = _override.set(bool(value))
    try:
        yield
    finally:
        _override.reset(token)


def is_idempotent(config: Config, operation: str) -> bool:
    """Whether a call to ``operation`` may be replayed: ``idempotent()`` wins over the config."""
    override = _override.get()
    return config.is_idempotent(operation) if override is None else override


def idempotent_override() -> bool | None:
    return _override.get()
