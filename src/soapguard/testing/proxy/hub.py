"""State a fault proxy shares across its connections: faults, counters, kept records.

:class:`Hub` is what every :class:`~._session.Session` talks to (it implements
the session's ``Host`` protocol) and what ``FaultProxy.stats()`` reads.  It
keeps its own lock and never calls into a session while holding it, so
sessions may call it with their own lock held.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from .faults import Fault, Scope
from .queue import FaultQueue, Taken
from .session import Session
from .stats import FiredFault, ProxyStats, UpstreamFailure

logger = logging.getLogger(__name__)

#: connections whose records are kept for ``stats()``
MAX_KEPT_CONNECTIONS = 1000
#: fired (and missed) faults kept for ``stats()``
MAX_KEPT_FAULTS = 10_000


class Hub:
    def __init__(self, tls13_tickets: int | None) -> None:
        self.faults = FaultQueue()
        self._lock = threading.Lock()
        self._tls13_tickets = tls13_tickets
        self._learned_tickets: int | None = None
        self._sessions: deque[Session] = deque(maxlen=MAX_KEPT_CONNECTIONS)
        self._fired: deque[FiredFault] = deque(maxlen=MAX_KEPT_FAULTS)
        self._missed: deque[FiredFault] = deque(maxlen=MAX_KEPT_FAULTS)
        self._connections = 0
        self._requests = 0
        self._rejected = 0
        self._active = 0
        self._upstream_failures = 0
        self._last_upstream_failure: UpstreamFailure | None = None

    # -- used by the proxy --------------------------------------------------------------

    def admit(self, max_connections: int, max_concurrent: int) -> int | None:
        """Count a new connection and return its id, or None (and count it rejected)."""
        with self._lock:
            if self._connections >= max_connections or self._active >= max_concurrent:
                self._rejected += 1
                return None
            self._connections += 1
            self._active += 1
            return self._connections

    def new_session(self, connection_id: int, fault: Taken | None) -> Session:
        session = Session(connection_id, self, fault)
        with self._lock:
            self._sessions.append(session)
        return session

    def closed(self) -> None:
        """A connection admitted by :meth:`admit` has ended."""
        with self._lock:
            self._active -= 1

    def stats(self) -> ProxyStats:
        with self._lock:
            sessions = list(self._sessions)
            connections, requests = self._connections, self._requests
            active, rejected = self._active, self._rejected
            fired, missed = tuple(self._fired), tuple(self._missed)
            upstream = self._upstream_failures, self._last_upstream_failure
        return ProxyStats(
            connections=connections,
            requests=requests,
            fired=fired,
            missed=missed,
            connection_records=tuple(session.snapshot() for session in sessions),
            active=active,
            rejected=rejected,
            upstream_failures=upstream[0],
            last_upstream_failure=upstream[1],
        )

    # -- the session Host protocol ------------------------------------------------------

    def take_fault(self, scope: Scope, tls: bool | None) -> Taken | None:
        return self.faults.take(scope, tls)

    def put_back(self, fault: Fault) -> None:
        self.faults.put_back(fault)

    def report(self, event: FiredFault, fired: bool) -> None:
        logger.debug(
            "fault %s %s on connection %d request %s: %s",
            event.spec,
            "fired" if fired else "missed",
            event.connection,
            event.request,
            event.detail,
        )
        with self._lock:
            (self._fired if fired else self._missed).append(event)

    def upstream_failed(self, failure: UpstreamFailure) -> None:
        with self._lock:
            self._upstream_failures += 1
            self._last_upstream_failure = failure

    def request_started(self) -> None:
        with self._lock:
            self._requests += 1

    def tickets_hint(self) -> int | None:
        with self._lock:
            if self._tls13_tickets is not None:
                return self._tls13_tickets
            return self._learned_tickets

    def learn_tickets(self, count: int) -> None:
        with self._lock:
            self._learned_tickets = max(count, self._learned_tickets or 0)
