"""The retry rules: what may be retried, as one pure function of the evidence.

:func:`decide` is the whole rule set; it reads a classified failure and the call's
bounds and returns a :class:`Decision` with a closed set of reasons, so every rule can
be tested without a socket.  The attempt loop (:mod:`.loop`) applies it.

The rules, in order: deterministic failures are never retried (a handshake the
peer's messages broke, whichever side noticed, fails the same way next time) --
except that one deterministic for an endpoint that sent nothing moves the call to
another endpoint; a request that never left (``request_sent: none``) is retried for
any operation, except a proxy's refusal of the tunnel other than 502/503/504;
anything that may have reached the server is retried only for idempotent operations
and only for transient failures; then attempts, the deadline, the circuit breakers
and the budget bound the loop.  Every retry, transparent ones included, is charged
to the budget: a down endpoint must not multiply the load by the attempts allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..classify.failure import Failure

if TYPE_CHECKING:
    from .budget import RetryBudget

Reason = Literal[
    "idempotent",
    "not_sent",
    "not_idempotent",
    "non_retryable",
    "attempts_exhausted",
    "deadline",
    "budget",
    "circuit_open",
]

#: transient failures worth a retry once the request may have reached the server
TRANSIENT_TYPES = frozenset(
    {"tls.bad_record_mac", "tls.unexpected_eof", "connection.reset", "timeout.read"}
)
TRANSIENT_STATUSES = frozenset({502, 503, 504})
#: TLS failures that the settings of both ends decide, not the endpoint's health, and that
#: happen before the request is answered: the same settings fail the same way on every
#: attempt there, so they are never retried on that endpoint -- another endpoint may take
#: the call, when nothing was sent -- and a circuit breaker does not count them
ENDPOINT_SPECIFIC = frozenset(
    {
        "tls.certificate",
        "tls.protocol_version",
        "tls.no_shared_cipher",
        "tls.handshake_failure",
        "tls.legacy_renegotiation",
        "tls.dh_key_too_small",
        "tls.renegotiation_refused",
        "tls.pin_mismatch",
    }
)
#: deterministic: retrying cannot help, whatever was sent
NEVER_RETRIED = ENDPOINT_SPECIFIC | {
    "tls.record_overflow",
    "soap.fault",
    "response.invalid",
    "timeout.deadline",
    "circuit.open",
}
#: failures that say an endpoint is unhealthy (what its circuit breaker counts)
_ILL_HEALTH = TRANSIENT_TYPES | {
    "connection.refused",
    "connection.dns",
    "timeout.connect",
    "tls.other",
}


@dataclass(frozen=True)
class Decision:
    retry: bool
    reason: Reason
    #: seconds to sleep before the next attempt (0 when not retrying)
    sleep: float = 0.0


def is_transient(failure: Failure) -> bool:
    if failure.type == "http.status":
        return failure.http_status in TRANSIENT_STATUSES
    return failure.type in TRANSIENT_TYPES


def endpoint_health(failure: Failure) -> bool | None:
    """What a failed attempt says about its endpoint: ``True`` unhealthy, ``False`` it
    answered (a SOAP fault or an HTTP status is the application's business), ``None``
    nothing (deterministic TLS failures are configuration, not health; a pool or deadline
    timeout is the caller's)."""
    if failure.type == "http.status":
        return failure.http_status in TRANSIENT_STATUSES
    if failure.type in _ILL_HEALTH or failure.type.startswith("connection."):
        return True
    if failure.type in ("soap.fault", "response.invalid"):
        return False
    return None


def decide(
    failure: Failure,
    *,
    idempotent: bool,
    attempt: int,
    max_attempts: int,
    remaining: float,
    sleep: float,
    budget: RetryBudget | None = None,
    elsewhere: bool = False,
    reachable: bool = True,
) -> Decision:
    """Apply the retry rules to one failed attempt.

    ``attempt`` is 1-based, ``remaining`` the seconds left before the deadline,
    ``sleep`` the proposed backoff.  ``elsewhere``: another endpoint could take the
    call (a failure deterministic for this endpoint that sent nothing then moves the
    call there); ``reachable``: some endpoint's breaker would let the next attempt
    through.  The budget is only consulted (and charged, for every retry) when every
    other rule says yes.
    """
    transparent = failure.request_sent == "none"
    moves = elsewhere and transparent and failure.type in ENDPOINT_SPECIFIC
    if failure.type in NEVER_RETRIED and not moves:
        return Decision(
            False, "deadline" if failure.type == "timeout.deadline" else "non_retryable"
        )
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
    if not reachable:
        return Decision(False, "circuit_open")
    if budget is not None and not budget.try_spend():
        return Decision(False, "budget")
    return Decision(True, "not_sent" if transparent else "idempotent", sleep)
