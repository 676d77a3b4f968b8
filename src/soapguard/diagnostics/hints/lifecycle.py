"""Hints about connections: stale or idle pooled ones, a full pool, fork(), cancellation."""

from __future__ import annotations

from ...retry.rules import TRANSIENT_TYPES
from ._rule import Event, HintRule, integer, number, text, when

__all__ = ["EARLY_RULES", "IDLE_RULE", "STALE_RULE", "retry_clause"]

#: what a connection the peer or a middlebox dropped looks like to the next request on it
_STALE_TYPES = TRANSIENT_TYPES - {"timeout.read"}
#: what a peer that dropped an idle connection looks like to the next request on it
_IDLE_TYPES = frozenset({"connection.reset", "tls.unexpected_eof"})
_NOT_RETRIED = {
    "not_idempotent": (
        "the call was not retried, since the request may have run on the server and the "
        "operation is not declared idempotent"
    ),
    "attempts_exhausted": "the call was not retried: SOAPGUARD_MAX_ATTEMPTS were used up",
    "deadline": "the call was not retried: no time was left before SOAPGUARD_DEADLINE",
    "budget": "the call was not retried: the endpoint's retry budget was spent",
}


def retry_clause(event: Event) -> str:
    """What soapguard did about the call, exactly as decided (never a retry it did not make)."""
    if event.get("decision") == "retry":
        return "soapguard retried the call on a fresh connection"
    return _NOT_RETRIED.get(str(event.get("decision_reason")), "the call was not retried")


def _cancelled(event: Event) -> bool:
    return event.get("event") == "soapguard.call_cancelled"


_CANCELLED_TEXT = (
    "The application cancelled this call after its request may have reached the server, "
    "so the operation may have run there: check its outcome before repeating it, and "
    "consider SOAPGUARD_IDEMPOTENCY_HEADER so that the server can recognise a repeat."
)
_POOL_TEXT = (
    "Every connection the pool may keep for this endpoint (SOAPGUARD_POOL_MAXSIZE) stayed "
    "busy until the wait for one (at most SOAPGUARD_CONNECT_TIMEOUT) ran out, so nothing "
    "was sent; raise SOAPGUARD_POOL_MAXSIZE if the server accepts more connections, or "
    "make fewer calls at once."
)


def _forked(event: Event) -> bool:
    created, pid = integer(event, "connection.created_pid"), integer(event, "process.pid")
    return created is not None and pid is not None and created != pid


def _forked_text(event: Event) -> str:
    return (
        f"This connection was opened by process {event['connection.created_pid']} and used by "
        f"process {event['process.pid']} after fork(), which corrupts TLS state; soapguard resets "
        "its pools in the child, so please report this as a bug and meanwhile create one client "
        "per process after forking."
    )


def _idle_seconds(event: Event) -> float | None:
    idle = number(event, "connection.idle_ms")
    return None if idle is None else idle / 1000


def _idle(event: Event) -> bool:
    return (
        event.get("connection.reused") is True
        and event.get("error.type") in _IDLE_TYPES
        and event.get("phase") in (None, "send", "wait")
        and _idle_seconds(event) is not None
    )


def _idle_text(event: Event) -> str:
    limit = number(event, "config.pool_idle_timeout")
    now = f" (now {limit:g} s)" if limit is not None else ""
    return (
        f"The connection had sat idle in the pool for {_idle_seconds(event):.1f} s before this "
        "request, long enough for the peer or a firewall or load balancer on the way to drop "
        f"it, so set SOAPGUARD_POOL_IDLE_TIMEOUT{now} below the shortest idle limit on the "
        f"path (`soapguard probe URL --idle-wait S` measures the server's); {retry_clause(event)}."
    )


def _stale(event: Event) -> bool:
    requests = integer(event, "connection.requests")
    reused = (requests or 0) > 1 or event.get("connection.reused") is True
    return reused and event.get("error.type") in _STALE_TYPES


def _stale_text(event: Event) -> str:
    count = integer(event, "connection.requests")
    which = f"request {count} on it" if count else "a reused one"
    return (
        f"The failure ({event['error.type']}) hit a pooled connection ({which}), so it most "
        "likely went stale (server or middlebox idle timeout or keep-alive limit): keep "
        f"SOAPGUARD_POOL_IDLE_TIMEOUT under the peer's idle limit; {retry_clause(event)}."
    )


#: evidence that explains a failure whatever else the event holds: ranked first
EARLY_RULES: tuple[HintRule, ...] = (
    HintRule("cancelled", _cancelled, text(_CANCELLED_TEXT)),
    HintRule("pool_timeout", when("timeout.pool"), text(_POOL_TEXT)),
    HintRule("fork", _forked, _forked_text),
)
IDLE_RULE = HintRule("idle_connection", _idle, _idle_text)
STALE_RULE = HintRule("stale_connection", _stale, _stale_text)
