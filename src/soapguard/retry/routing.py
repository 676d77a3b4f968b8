"""Where one call's attempts go: the primary endpoint, then the alternates, around open breakers.

A call starts on the first endpoint (primary first) whose breaker lets it through; each
retry goes to the next endpoint in order, cycling through the list and skipping
endpoints whose breaker is open, and endpoints where the call already met a failure
that is deterministic for that endpoint (its certificate, its TLS version).  Whether a
retry is allowed at all is the rules' business (:func:`~soapguard.retry.rules.decide`):
this module only says where it may go.

A call's outcome on an endpoint is reported to that endpoint's breaker once, when the
call ends -- except for a half-open probe, whose outcome is reported as soon as its
attempt ends, so that a failing probe reopens the breaker at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..classify.failure import Failure
from .breaker import Breaker, BreakerRegistry, State, Transition
from .rules import ENDPOINT_SPECIFIC, endpoint_health

__all__ = ["Route"]

_STATE_OF: dict[str, State] = {"allowed": "closed", "probe": "half_open"}


@dataclass
class _Visit:
    """This call's time on one endpoint."""

    probe: bool
    #: the breaker's state when the call entered (None: breakers are off)
    state: State | None = None
    #: True: the endpoint looked unhealthy; False: it answered; None: nothing to say yet
    failed: bool | None = None
    reported: bool = False


class Route:
    """The endpoints of one call and its visits to them.  Not shared between calls."""

    def __init__(self, endpoints: tuple[str, ...], breakers: BreakerRegistry) -> None:
        self.endpoints = endpoints
        self._breakers = breakers
        self.index = -1
        self._visits: dict[int, _Visit] = {}
        self._breaker_at: dict[int, Breaker | None] = {}
        self._ruled_out: set[int] = set()
        #: breaker transitions this call caused, for the caller to tell the operator
        self.transitions: list[tuple[str, Transition]] = []

    # -- choosing ----------------------------------------------------------------------------

    def enter_first(self) -> int | None:
        """Enter the first endpoint that takes the call (primary first), or None."""
        return self._enter_from(0)

    def enter_next(self) -> int | None:
        """Enter the endpoint the next attempt goes to, or None when none takes it."""
        return self._enter_from(self.index + 1)

    def _enter_from(self, start: int) -> int | None:
        count = len(self.endpoints)
        for step in range(count):
            index = (start + step) % count
            if index not in self._ruled_out and self._enter(index):
                self.index = index
                return index
        return None

    def _breaker(self, index: int) -> Breaker | None:
        """The breaker of endpoint ``index`` (looked up in the registry once per call)."""
        try:
            return self._breaker_at[index]
        except KeyError:
            breaker = self._breaker_at[index] = self._breakers.get(self.endpoints[index])
            return breaker

    def _enter(self, index: int) -> bool:
        visit = self._visits.get(index)
        if visit is not None and visit.probe and not visit.reported:
            visit.state = "half_open"
            return True  # this call holds the probe permit there
        breaker = self._breaker(index)
        verdict = "allowed" if breaker is None else breaker.acquire()
        if verdict == "denied":
            return False
        # acquire() allows a call only while closed, and hands out the probe when half-open
        state: State | None = None if breaker is None else _STATE_OF[verdict]
        if visit is None or visit.reported:
            self._visits[index] = _Visit(probe=verdict == "probe", state=state)
        else:
            visit.state = state
            if verdict == "probe":
                visit.probe = True
        return True

    def reachable(self, *, elsewhere: bool = False) -> bool:
        """Whether an endpoint (another one, with ``elsewhere``) could take the next attempt.

        A look only: nothing is entered, so another call may still take a probe permit.
        """
        for index in range(len(self.endpoints)):
            if index in self._ruled_out or (elsewhere and index == self.index):
                continue
            visit = self._visits.get(index)
            if visit is not None and visit.probe and not visit.reported:
                return True
            breaker = self._breaker(index)
            if breaker is None or breaker.snapshot().state != "open":
                return True
        return False

    def state(self) -> State | None:
        """The breaker state of the current endpoint when the call entered it (None: off)."""
        visit = self._visits.get(self.index)
        return None if visit is None else visit.state

    # -- reporting ---------------------------------------------------------------------------

    def attempt_failed(self, failure: Failure) -> None:
        """What a failed attempt on the current endpoint says about it."""
        visit = self._visits[self.index]
        health = endpoint_health(failure)
        if health is True or visit.failed is None:
            visit.failed = health
        if failure.type in ENDPOINT_SPECIFIC and failure.request_sent == "none":
            self._ruled_out.add(self.index)  # it would fail the same way there again
        if visit.probe:
            self._report(self.index, visit)

    def finish(self, *, succeeded: bool) -> None:
        """The call ended: report every endpoint it visited, once."""
        if succeeded and self.index in self._visits:
            self._visits[self.index].failed = False
        for index, visit in self._visits.items():
            if not visit.reported:
                self._report(index, visit)

    def _report(self, index: int, visit: _Visit) -> None:
        visit.reported = True
        breaker = self._breaker(index)
        if breaker is None:
            return
        transition = breaker.record(visit.failed, probe=visit.probe)
        if transition is not None:
            self.transitions.append((self.endpoints[index], transition))
