"""One call's state between attempts (:class:`Call`): no I/O, no sleeping.

:class:`~soapguard.retry.loop.Runner` drives it: it opens each attempt (its number,
endpoint and time left before the deadline), judges a failed attempt from that
attempt's own evidence, applies :func:`~soapguard.retry.rules.decide`, emits the events
and builds the exception the call finally raises.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import zeep.exceptions as zx

from ..classify.core import classify
from ..classify.failure import Failure
from ..diagnostics import expiry, otel
from ..diagnostics.events import (
    Event,
    attempt_event,
    call_event,
    call_failure,
    cancelled_event,
    circuit_event,
    report,
)
from ..diagnostics.scrub import scrub_chain
from ..errors import DeadlineExceeded, SoapGuardError, outcome_note, with_outcome
from ..transport.evidence import Attempt, CallContext
from .routing import Route
from .rules import Decision, decide

if TYPE_CHECKING:
    from .loop import Runner

__all__ = ["Call", "Raise", "Retry"]


@dataclass(frozen=True)
class Retry:
    """Sleep ``pause`` seconds, then make the next attempt."""

    pause: float


@dataclass(frozen=True)
class Raise:
    """End the call by raising ``error`` (chained to the attempt's exception)."""

    error: BaseException


def _cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` is asyncio's cancellation (which cannot exist before asyncio loads)."""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


class Call:
    """One call's state between attempts: no I/O, no sleeping."""

    def __init__(self, runner: Runner, ctx: CallContext) -> None:
        self.runner = runner
        self.ctx = ctx
        self.config = runner.config
        self.started = runner.clock()
        self.deadline_at = self.started + self.config.deadline
        self.budget = runner.budget_for(ctx.url)
        self.budget.record_call()
        self.route = Route(ctx.endpoints or (ctx.url,), runner.breakers)
        self.span = otel.start_call_span(ctx)
        self.events: list[Event] = []
        self._number = 0
        self._attempt_started = self.started

    # -- the three moments of an attempt -------------------------------------------------

    def next_attempt(self) -> Attempt:
        """Open the next attempt on the endpoint it goes to.

        Raises the call's final error when no time is left, or when every endpoint's
        breaker is open (then nothing touches the network).
        """
        first = self._number == 0
        self._number += 1
        now = self.runner.clock()
        self._attempt_started = now
        index = self.route.enter_first() if first else self.route.enter_next()
        if index is None:
            raise self._circuit_open()
        attempt = Attempt(
            number=self._number,
            endpoint=self.route.endpoints[index],
            endpoint_index=index,
            circuit_state=self.route.state(),
            time_left=self.deadline_at - now,
            idempotency_key=self.ctx.idempotency_key,
            message_id=self.ctx.message_id,
        )
        self._current = attempt
        if now >= self.deadline_at:
            failure = Failure(
                "timeout.deadline",
                None,
                f"deadline of {self.config.deadline:g}s reached before attempt {self._number}",
                request_sent="none",
            )
            raise self._final_error(failure, self._judge(attempt, failure), None)
        return attempt

    def failed(self, attempt: Attempt, exc: BaseException) -> Retry | Raise | None:
        """What to do after ``attempt`` raised ``exc``; ``None``: not ours, re-raise it."""
        expiry.notice(attempt, self.runner.emitter, self.config)
        if not attempt.entered or not isinstance(exc, self.runner.exchange_errors):
            if attempt.entered and _cancellation(exc):
                self._cancelled(attempt)
            self._end(succeeded=False)
            self.span.end(ok=False, resend_count=len(self.events), error_type=None)
            return None
        # classified once, from this attempt's own evidence
        mapped = attempt.failure if attempt.raised is exc else None
        failure = mapped if mapped is not None else classify(exc, attempt)
        failure = self._deadline_view(failure, attempt)
        self.route.attempt_failed(failure)
        decision = self._judge(attempt, failure)
        if not decision.retry:
            return Raise(self._final_error(failure, decision, exc))
        if self.runner.release is not None:
            self.runner.release(attempt)
        self._tell_breaker_transitions()
        return Retry(decision.sleep)

    def succeeded(self) -> None:
        expiry.notice(self._current, self.runner.emitter, self.config)
        self._end(succeeded=True)
        if self.events:
            self._emit_call("soapguard.call_recovered")
        self.span.end(ok=True, resend_count=len(self.events), error_type=None)

    def _cancelled(self, attempt: Attempt) -> None:
        """Cancellation is the caller's, not a failure; but a write it interrupted after its
        request may have left has an unknown outcome, and the operator is told so."""
        if self.ctx.idempotent or attempt.request_sent == "none":
            return
        duration = round((self.runner.clock() - self.started) * 1000, 3)
        event = cancelled_event(self.ctx, attempt, duration_ms=duration, config=self.config)
        self.runner.emitter.emit(event)

    # -- the decision ----------------------------------------------------------------------

    def _judge(self, attempt: Attempt, failure: Failure) -> Decision:
        """Apply the rules to one failed attempt and tell the operator (one event)."""
        clock = self.runner.clock
        decision = decide(
            failure,
            idempotent=self.ctx.idempotent,
            attempt=attempt.number,
            max_attempts=self.ctx.max_attempts,
            remaining=self.deadline_at - clock(),
            sleep=self.runner.backoff(attempt.number),
            budget=self.budget,
            elsewhere=self.route.reachable(elsewhere=True),
            reachable=self.route.reachable(),
        )
        event = attempt_event(
            self.ctx,
            attempt,
            failure,
            decision="retry" if decision.retry else "raise",
            decision_reason=decision.reason,
            backoff_ms=round(decision.sleep * 1000, 3) if decision.retry else None,
            duration_ms=round((clock() - self._attempt_started) * 1000, 3),
            config=self.config,
        )
        self.events.append(event)
        self.runner.emitter.emit(event)
        self.span.attempt_failed(event)
        return decision

    def _deadline_view(self, failure: Failure, attempt: Attempt) -> Failure:
        """A timeout that hit the deadline-shortened timeouts is the deadline's doing."""
        if (
            failure.type.startswith("timeout.")
            and failure.type != "timeout.deadline"
            and attempt.deadline_capped
            and self.runner.clock() >= self.deadline_at - 0.01
        ):
            message = f"deadline of {self.config.deadline:g}s exceeded ({failure.message})"
            return dataclasses.replace(failure, type="timeout.deadline", message=message)
        return failure

    # -- the end ---------------------------------------------------------------------------

    def _end(self, *, succeeded: bool) -> None:
        """Report the call's outcome to the breakers of the endpoints it visited."""
        self.route.finish(succeeded=succeeded)
        self._tell_breaker_transitions()

    def _tell_breaker_transitions(self) -> None:
        for endpoint, transition in self.route.transitions:
            self.runner.emitter.emit(circuit_event(endpoint, transition))
        self.route.transitions.clear()

    def _circuit_open(self) -> BaseException:
        """The call cannot start (or go on): every endpoint's breaker is open."""
        states = self.runner.breakers.snapshot()
        waits = [s.retry_after_s for url, s in states.items() if url in self.route.endpoints]
        retry_after = min((w for w in waits if w is not None), default=None)
        failure = Failure(
            "circuit.open",
            None,
            "every endpoint's circuit breaker is open"
            + (f"; the next probe is allowed in {retry_after:.1f}s" if retry_after else ""),
            request_sent="none",
        )
        why = [s for url, s in states.items() if url in self.route.endpoints]
        extra: dict[str, object] = {
            "retry_after_s": None if retry_after is None else round(retry_after, 3),
            "circuit.calls": sum(s.opened_calls for s in why),
            "circuit.failures": sum(s.opened_failures for s in why),
            "circuit.window_s": self.config.breaker_window,
        }
        return self._final_error(failure, Decision(False, "circuit_open"), None, extra)

    def _final_error(
        self,
        failure: Failure,
        decision: Decision,
        exc: BaseException | None,
        extra: Mapping[str, object] | None = None,
    ) -> BaseException:
        self._end(succeeded=False)
        final = self._emit_call("soapguard.call_failed", failure, decision, extra)
        self.span.end(ok=False, resend_count=max(len(self.events) - 1, 0), error_type=failure.type)
        if exc is None or (
            failure.type == "timeout.deadline" and not isinstance(exc, DeadlineExceeded)
        ):
            err: BaseException = self.runner.error_for(failure, exc or TimeoutError())
        elif isinstance(exc, SoapGuardError | zx.Error):
            err = exc  # mapped already; zeep's Fault / TransportError... stay what they are
        else:
            err = self.runner.error_for(failure, exc)
        err.report = report(final, self.events)  # type: ignore[attr-defined]
        if failure.outcome == "unknown":
            with_outcome(err, outcome_note(decision.reason))
        scrub_chain(err)
        if exc is not None and exc is not err:
            scrub_chain(exc)  # chained below as __cause__: tracebacks print it too
        return err

    def _emit_call(
        self,
        kind: Literal["soapguard.call_recovered", "soapguard.call_failed"],
        failure: Failure | None = None,
        decision: Decision | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> Event:
        event = call_event(
            kind,
            self.ctx,
            attempts=self.events,
            duration_ms=round((self.runner.clock() - self.started) * 1000, 3),
        )
        if failure is not None and decision is not None and not self.events:
            # the call failed before any attempt: it carries its own failure
            call_failure(event, failure, decision.reason, extra or {})
        self.runner.emitter.emit(event)
        return event
