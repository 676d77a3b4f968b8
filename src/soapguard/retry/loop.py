"""The attempt loop: one call, attempt by attempt, under the retry rules.

Every call -- through ``soapguard.Client``, a plain ``zeep.Client`` on a
``soapguard.Transport``, sync or async -- runs here.  A reader sees the whole loop in
:meth:`Runner.run` (and its async twin :meth:`Runner.run_async`, which differs only in
``await``)::

    attempt -> classify once -> decide() -> event -> sleep -> next attempt

Both run in the calling client's secret scope.  :class:`~soapguard.retry.call.Call` (in
:mod:`soapguard.retry.call`) holds one call's state
and does all the work between the I/O: it opens each attempt (its number, endpoint and
time left before the deadline), judges a failed attempt from that attempt's own
evidence, applies :func:`~soapguard.retry.rules.decide`, emits the events and builds the
exception the call finally raises.  It never sleeps and never touches the network, so
the two drivers stay trivially alike.

What passes through untouched: an exception raised before the transport was asked to
send (zeep validating arguments, a plugin's bug) and anything that is not an exchange
failure (``KeyboardInterrupt``, cancellation...).  A call that ends that way emits no
call event claiming a network failure.  One exception to the silence: a non-idempotent
call cancelled (``asyncio.CancelledError``) after its request may have left emits
``soapguard.call_cancelled`` (``outcome: unknown``), since the operation may have run.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .._urls import origin
from ..classify.core import EXCHANGE_ERRORS, ErrorFactory
from ..config import Config
from ..diagnostics.emit import Emitter
from ..diagnostics.secrets import call_scope
from ..transport.evidence import Attempt, CallContext
from .breaker import BreakerRegistry
from .budget import BudgetRegistry, RetryBudget
from .call import Call, Raise

T = TypeVar("T")

__all__ = ["Runner"]


class Runner:
    """Runs calls for one client (or one standalone transport).  Thread-safe.

    ``error_for`` builds the exception a failure is raised as (the family differs
    between the sync and async clients); ``release(attempt)`` is called before a
    retry so that it runs on a fresh connection; ``sleep``/``clock`` are injectable
    so that tests never sleep.
    """

    def __init__(
        self,
        config: Config,
        *,
        error_for: ErrorFactory,
        release: Callable[[Attempt], None] | None = None,
        exchange_errors: tuple[type[BaseException], ...] = EXCHANGE_ERRORS,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.emitter = Emitter(config)
        self.budgets = BudgetRegistry(config.retry_budget, config.retry_budget_floor, clock)
        self.breakers = BreakerRegistry(config, clock)
        self.error_for = error_for
        self.release = release
        self.exchange_errors = exchange_errors
        self.clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep  # None: asyncio.sleep (asyncio loads with a coroutine)
        self._backoff: Callable[[Any], float] | None = None
        self._budget_of: dict[str, RetryBudget] = {}

    def budget_for(self, url: str) -> RetryBudget:
        """The retry budget of ``url``'s endpoint (its origin), remembered per URL."""
        budget = self._budget_of.get(url)
        if budget is None:
            budget = self.budgets.for_endpoint(str(origin(url)))
            if len(self._budget_of) < 256:
                self._budget_of[url] = budget
        return budget

    def backoff(self, attempt_number: int) -> float:
        """The full-jitter exponential pause after failed attempt ``attempt_number``."""
        import tenacity  # only once a call failed: a call that succeeds never loads it

        if self._backoff is None:
            self._backoff = tenacity.wait_random_exponential(
                multiplier=self.config.backoff_initial, max=self.config.backoff_max
            )
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt_number
        return float(self._backoff(state))

    def run(self, ctx: CallContext, send: Callable[[Attempt], T]) -> T:
        """Run one call: ``send(attempt)`` once per attempt until it succeeds or must stop.

        The call runs in its client's secret scope: redaction inside it masks that
        client's secret values, and the log filter rewrites the call's records.
        """
        with call_scope(ctx.secrets):
            return self._run(ctx, send)

    async def run_async(self, ctx: CallContext, send: Callable[[Attempt], Awaitable[T]]) -> T:
        """:meth:`run` for coroutines; cancellation is never retried nor swallowed.

        One coroutine, the loop inline: every await of the call resumes through each
        frame of its chain, so the driver adds only this one.
        """
        with call_scope(ctx.secrets):
            call = Call(self, ctx)
            while True:
                attempt = call.next_attempt()
                try:
                    result = await send(attempt)
                except BaseException as exc:
                    step = call.failed(attempt, exc)
                    if step is None:
                        raise  # not an exchange failure: the caller's, untouched
                    if isinstance(step, Raise):
                        if step.error is exc:
                            raise
                        raise step.error from exc
                    pause = step.pause
                else:
                    call.succeeded()
                    return result
                await (self._async_sleep or _asyncio_sleep)(pause)

    def _run(self, ctx: CallContext, send: Callable[[Attempt], T]) -> T:
        call = Call(self, ctx)
        while True:
            attempt = call.next_attempt()
            try:
                result = send(attempt)
            except BaseException as exc:
                step = call.failed(attempt, exc)
                if step is None:
                    raise  # not an exchange failure: the caller's, untouched
                if isinstance(step, Raise):
                    if step.error is exc:
                        raise
                    raise step.error from exc
                pause = step.pause
            else:
                call.succeeded()
                return result
            self._sleep(pause)


async def _asyncio_sleep(seconds: float) -> None:
    import asyncio  # loaded already: this runs in a coroutine

    await asyncio.sleep(seconds)
