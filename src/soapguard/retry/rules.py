"""The retry rules: what may be retried, as one pure function of the evidence.

:func:`decide` is the whole rule set; it reads a classified failure and the call's
bounds and returns a :class:`Decision` with a closed set of reasons, so every rule can
be tested without a socket.  The attempt loop (:mod:`.loop`) applies it.

The rules, in order: deterministic failures are never retried (a handshake the
peer's messages broke, whichever side noticed, fails the same way next time); a
request that never left (``request_sent: none``) is retried for any operation
(transparent, not charged to the budget), except a proxy's refusal of the tunnel
other than 502/503/504; anything that may have reached the server is retried only
for idempotent operations and only for transient failures; then attempts, the
deadline and the budget bound the loop.
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
        "tls.pin_mismatch",
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
