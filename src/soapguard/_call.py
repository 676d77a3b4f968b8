"""The per-call loop: attempts, classification, retry decisions, events, the final report.

One :class:`CallRunner` per client (or standalone transport).  ``run(fn)``
calls ``fn`` once per attempt under tenacity, with

* a fresh :class:`~soapguard._state.Progress` per attempt (the connection
  fills it in), and per-attempt timeouts shrunk to what is left of the
  deadline;
* :func:`soapguard.classify.classify` on every failure and
  :func:`soapguard.retry.decide` for the verdict;
* one ``soapguard.attempt_failed`` event per failed attempt and one
  ``call_recovered``/``call_failed`` per call that needed more than one
  attempt or failed;
* the idle connections to the endpoint dropped before a retry, so it runs on
  a fresh TCP+TLS connection with the same TLS settings.

The exception a call finally raises is the last attempt's, with ``.report``.
"""

from __future__ import annotations

import dataclasses
import functools
import http.client
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
import tenacity
import urllib3.exceptions
import zeep.exceptions

from . import _otel
from ._state import Failure, Progress, begin_attempt, end_attempt
from .classify import classify
from .config import Config
from .diagnostics import CallContext, Emitter, attempt_event, call_event
from .errors import DeadlineExceeded, SoapGuardError, error_for, scrub_chain
from .retry import BudgetRegistry, Decision, RetryBudget, decide
from .secretscope import call_scope

T = TypeVar("T")

#: failures of the exchange itself; anything else (TypeError for a bad argument,
#: a plugin's bug...) is the caller's and passes through untouched, unretried
HANDLED: tuple[type[BaseException], ...] = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    # network OSErrors only: a FileNotFoundError from a plugin is not an exchange failure
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    ssl.SSLError,
    zeep.exceptions.Fault,
    zeep.exceptions.TransportError,
    zeep.exceptions.XMLSyntaxError,
)


class CallRunner:
    """Runs calls under SPEC §5's rules.  Thread-safe; shares budgets per endpoint."""

    def __init__(
        self,
        config: Config,
        *,
        drop_connections: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.emitter = Emitter(config)
        self.budgets = BudgetRegistry(config.retry_budget, config.retry_budget_floor)
        self._drop = drop_connections
        self._sleep = sleep
        self._clock = clock
        self._wait = tenacity.wait_random_exponential(
            multiplier=config.backoff_initial, max=config.backoff_max
        )

    def run(self, fn: Callable[[], T], ctx: CallContext) -> T:
        """Call ``fn`` under the rules, with ``ctx.secrets`` as the active secret scope."""
        with call_scope(ctx.secrets):  # what redaction and the log filter mask, see secretscope
            return self._run(fn, ctx)

    def _run(self, fn: Callable[[], T], ctx: CallContext) -> T:
        """The happy path is one attempt and no retry machinery."""
        started = self._clock()
        deadline_at = started + self.config.deadline
        budget = self.budgets.for_endpoint(_endpoint(ctx.url))
        budget.record_call()
        span = _otel.start_call_span(ctx)
        state: dict[str, Any] = {}
        try:
            result = self._attempt(fn, state, deadline_at)
        except HANDLED as first:
            return self._recover(fn, ctx, first, state, started, deadline_at, budget, span)
        except BaseException:
            span.end(ok=False, resend_count=0, error_type=None)
            raise
        span.end(ok=True, resend_count=0, error_type=None)
        return result

    def _recover(
        self,
        fn: Callable[[], T],
        ctx: CallContext,
        first: BaseException,
        state: dict[str, Any],
        started: float,
        deadline_at: float,
        budget: RetryBudget,
        span: _otel.CallSpan,
    ) -> T:
        """Attempt 1 failed with ``first``: decide, and retry under tenacity while allowed."""
        cfg = self.config
        attempts: list[dict[str, Any]] = []
        pending = [first]

        def attempt() -> T:
            if pending:  # replay attempt 1's outcome into tenacity's bookkeeping
                raise pending.pop()
            return self._attempt(fn, state, deadline_at)

        def should_retry(rs: tenacity.RetryCallState) -> bool:
            outcome = rs.outcome
            exc = outcome.exception() if outcome is not None else None
            if exc is None or not isinstance(exc, HANDLED):
                return False
            progress: Progress = state["progress"]
            failure = self._classify(exc, progress, deadline_at)
            decision = decide(
                failure,
                idempotent=ctx.idempotent,
                attempt=rs.attempt_number,
                max_attempts=ctx.max_attempts,
                remaining=deadline_at - self._clock(),
                sleep=self._wait(rs),
                budget=budget,
            )
            event = attempt_event(
                ctx,
                attempt=rs.attempt_number,
                failure=failure,
                progress=progress,
                decision="retry" if decision.retry else "raise",
                decision_reason=decision.reason,
                backoff_ms=round(decision.sleep * 1000, 3) if decision.retry else None,
                duration_ms=round((self._clock() - state["t0"]) * 1000, 3),
                config=cfg,
            )
            attempts.append(event)
            self.emitter.emit(event)
            span.attempt_failed(event)
            state.update(decision=decision, failure=failure)
            return decision.retry

        def before_sleep(rs: tenacity.RetryCallState) -> None:
            if self._drop is not None:
                self._drop(ctx.url)

        def wait(rs: tenacity.RetryCallState) -> float:
            decision: Decision = state["decision"]
            return decision.sleep

        retrying = tenacity.Retrying(
            sleep=self._sleep,
            stop=tenacity.stop_never,
            wait=wait,
            retry=should_retry,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for try_ in retrying:
                with try_:
                    result = attempt()
        except BaseException as exc:
            if not isinstance(exc, HANDLED) or "failure" not in state:
                # not an exchange failure (e.g. a TypeError from zeep): not ours to report
                span.end(ok=False, resend_count=len(attempts), error_type=None)
                raise
            final = self._finish(ctx, attempts, started, failed=True)
            span.end(ok=False, resend_count=len(attempts) - 1, error_type=final.get("error.type"))
            err = self._with_report(exc, state["failure"], {**final, "attempts": attempts})
            scrub_chain(err)
            scrub_chain(exc)  # chained below as __cause__: tracebacks print it too
            if err is exc:
                raise
            raise err from exc
        self._finish(ctx, attempts, started, failed=False)
        span.end(ok=True, resend_count=len(attempts), error_type=None)
        return result

    def _attempt(self, fn: Callable[[], T], state: dict[str, Any], deadline_at: float) -> T:
        cfg = self.config
        now = self._clock()
        remaining = deadline_at - now
        progress, token = begin_attempt()
        state.update(progress=progress, t0=now)
        try:
            if remaining <= 0:
                raise DeadlineReached(f"deadline of {cfg.deadline:g}s reached before the attempt")
            progress.time_left = remaining
            return fn()
        finally:
            end_attempt(token)

    def _classify(self, exc: BaseException, progress: Progress, deadline_at: float) -> Failure:
        failure = classify(exc, progress)
        if isinstance(exc, DeadlineReached) or (
            failure.type.startswith("timeout.")
            and progress.deadline_capped
            and self._clock() >= deadline_at - 0.01
        ):
            failure = dataclasses.replace(
                failure,
                type="timeout.deadline",
                message=f"deadline of {self.config.deadline:g}s exceeded ({failure.message})",
            )
        return failure

    def _finish(
        self, ctx: CallContext, attempts: list[dict[str, Any]], started: float, *, failed: bool
    ) -> dict[str, Any]:
        event = call_event(
            "soapguard.call_failed" if failed else "soapguard.call_recovered",
            ctx,
            attempts=attempts,
            duration_ms=round((self._clock() - started) * 1000, 3),
        )
        self.emitter.emit(event)
        return event

    @staticmethod
    def _with_report(exc: BaseException, failure: Failure, report: dict[str, Any]) -> BaseException:
        """The exception the call raises: the last attempt's, carrying ``report``."""
        if failure.type == "timeout.deadline" and not isinstance(exc, DeadlineExceeded):
            return error_for(failure, exc, report)
        if isinstance(exc, SoapGuardError):
            exc.report = report
            return exc
        if isinstance(exc, _REQUESTS_FAMILY):
            return error_for(failure, exc, report)
        # zeep's Fault / TransportError / XMLSyntaxError stay what they are
        exc.report = report  # type: ignore[attr-defined]
        return exc


class DeadlineReached(requests.exceptions.Timeout):
    """Internal: the deadline expired before an attempt could start."""


_REQUESTS_FAMILY = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


@functools.lru_cache(maxsize=256)
def _endpoint(url: str) -> str:
    parsed = urllib3.util.parse_url(url)
    scheme = parsed.scheme or "http"
    port = parsed.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parsed.host or '').lower()}:{port}"
