"""What ``soapguard proxy`` prints while it runs, picked up from the proxy's statistics.

The command polls :meth:`FaultProxy.stats() <soapguard.testing.FaultProxy.stats>`
(the proxy has no per-event callback) and prints what is new since the last look:

* each fault that fired or missed (:class:`FaultFeed`);
* connections whose upstream could not be reached (:class:`UpstreamFeed`): the
  first one in full (upstream address, error, connection), then at most one line
  per :data:`UPSTREAM_EVERY` seconds with how many more failed, so an upstream that
  is down does not flood the output; the rest is flushed when the proxy stops;
* the summary when it stops.

Text or one JSON object per line (:class:`Output`).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the proxy itself is loaded only when the command runs
    from ...testing.proxy.faults import Fault
    from ...testing.proxy.stats import FiredFault, ProxyStats

#: at most one "more upstream connects failed" line per this many seconds
UPSTREAM_EVERY = 10.0


class Output:
    """Each event as a line of text, or as one JSON object per line."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode

    def emit(self, doc: dict[str, Any], text: str) -> None:
        print(json.dumps(doc) if self.json_mode else text, flush=True)

    def fault(self, event: FiredFault, fired: bool) -> None:
        where = f"connection {event.connection}"
        if event.request is not None:
            where += f" request {event.request}"
        self.emit(
            {
                "event": "fault",
                "fired": fired,
                "kind": event.kind,
                "spec": event.spec,
                "connection": event.connection,
                "request": event.request,
                "detail": event.detail,
            },
            f"{'fired' if fired else 'MISSED'} {event.spec} on {where}: {event.detail}",
        )


class FaultFeed:
    """Faults fired or missed since the last look, from ``FaultProxy.stats()`` snapshots.

    Snapshots share the event objects, so the last one shown is found by identity,
    also once the bounded log drops old ones.
    """

    def __init__(self) -> None:
        self._last: dict[bool, FiredFault | None] = {True: None, False: None}

    def new(self, stats: ProxyStats) -> list[tuple[FiredFault, bool]]:
        out: list[tuple[FiredFault, bool]] = []
        for fired, events in ((True, stats.fired), (False, stats.missed)):
            last = self._last[fired]
            start = 0
            if last is not None:
                start = next(
                    (i + 1 for i in range(len(events) - 1, -1, -1) if events[i] is last), 0
                )
            fresh = events[start:]
            if fresh:
                self._last[fired] = fresh[-1]
            out.extend((event, fired) for event in fresh)
        return out


class UpstreamFeed:
    """Failed upstream connects: the first reported at once, later ones counted."""

    def __init__(
        self,
        upstream: str,
        every: float = UPSTREAM_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream = upstream
        self._every = every
        self._clock = clock
        self._reported = 0
        self._last_line: float | None = None

    def new(self, stats: ProxyStats, out: Output, *, final: bool = False) -> None:
        """Print what is due; ``final`` (the proxy stopped) prints whatever is left."""
        count, failure = stats.upstream_failures, stats.last_upstream_failure
        more = count - self._reported
        if more <= 0 or failure is None:
            return
        now = self._clock()
        if self._reported == 0:
            doc = {"event": "upstream_error", "upstream": self.upstream, "failures": more}
            doc |= {"connection": failure.connection, "error": failure.error}
            also = f" (and {more - 1} more)" if more > 1 else ""
            text = (
                f"upstream {self.upstream} failed to connect: {failure.error}; "
                f"connection {failure.connection} from the client was reset{also}"
            )
        elif final or self._last_line is None or now - self._last_line >= self._every:
            doc = {"event": "upstream_error", "upstream": self.upstream, "failures": more}
            doc |= {"connection": failure.connection, "error": failure.error}
            text = (
                f"upstream {self.upstream}: {more} more connects failed "
                f"(latest: {failure.error}, connection {failure.connection})"
            )
        else:
            return  # counted, shown later
        self._reported, self._last_line = count, now
        out.emit(doc, text)


def summary(out: Output, stats: ProxyStats, pending: tuple[Fault, ...], reason: str) -> None:
    fired = Counter(f.kind for f in stats.fired)
    doc = {
        "event": "summary",
        "reason": reason,
        "connections": stats.connections,
        "requests": stats.requests,
        "fired": dict(fired),
        "missed": len(stats.missed),
        "rejected": stats.rejected,
        "upstream_failures": stats.upstream_failures,
        "pending": [str(f) for f in pending],
    }
    kinds = ", ".join(f"{kind} x{n}" for kind, n in sorted(fired.items())) or "none"
    text = (
        f"stopped ({reason}): {stats.connections} connections, {stats.requests} requests; "
        f"faults fired: {kinds}; missed: {len(stats.missed)}; still queued: {len(pending)}; "
        f"connections refused at the limit: {stats.rejected}; "
        f"upstream connects failed: {stats.upstream_failures}"
    )
    out.emit(doc, text)
