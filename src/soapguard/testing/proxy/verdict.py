"""What the proxy does with one record or chunk, and how per-request faults decide it.

A :class:`Verdict` is the answer a session gives a pump for each unit it is
about to forward.  :func:`on_request` holds the rules for the faults that act on
a request as it starts (flip its first record, reset it after an idle period,
hold it when it expects ``100 Continue``), :func:`respond` those for the faults
that act on the response (flip, reset, close mid-body, stall).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .faults import (
    CLOSE_MID_BODY,
    EXPECT_STALL,
    FLIP_REQUEST_RECORD,
    FLIP_RESPONSE_RECORD,
    IDLE_RESET,
    RST_AFTER_REQUEST,
    STALL,
    Fault,
)
from .http1 import expects_continue
from .records import flip_offset


@dataclass(frozen=True)
class Verdict:
    """What to do with one record or chunk."""

    flip: bool = False
    #: wait this many seconds before forwarding
    stall: float | None = None
    #: abort instead of forwarding: "rst" resets the client, "close" sends it a FIN
    before: Literal["rst", "close"] | None = None
    #: forward, then close the client with a FIN
    close_after: bool = False
    #: forward only this many bytes (plain TCP only)
    limit: int | None = None
    #: TLS 1.3: flush, call ``Session.settle_tickets()``, then ask again
    hold: bool = False
    #: forward these bytes instead of the unit's own (plain TCP: a re-framed response)
    data: bytes | None = None


FORWARD = Verdict()
FLIP = Verdict(flip=True)
HOLD = Verdict(hold=True)


def on_request(
    fault: Fault, size: int, idle: float, plain: bytes | None
) -> tuple[Verdict, str] | Literal["later", "response"]:
    """What ``fault``, taken as a request starts, does to that request.

    ``size`` is the request's first unit (record or chunk), ``idle`` the seconds
    the connection was quiet before it, ``plain`` its bytes on a plain-TCP
    connection (None inside TLS).  Returns the verdict and a description when the
    fault fires on the request now; ``"later"`` when this request does not meet
    the fault's condition (it stays queued for a later one); ``"response"`` when
    the fault acts on the response instead (see :func:`respond`).
    """
    if fault.kind == FLIP_REQUEST_RECORD and plain is None:
        return FLIP, f"flipped byte {flip_offset(size)} of the first request record ({size} bytes)"
    if fault.kind == IDLE_RESET:
        if idle < (fault.seconds or 0.0):
            return "later"
        detail = f"reset the client after {idle:.3f} s idle; the request was not forwarded"
        return Verdict(before="rst"), detail
    if fault.kind == EXPECT_STALL:
        if plain is None or not expects_continue(plain):
            return "later"
        detail = f"holding a request with Expect: 100-continue for {fault.seconds} s"
        return Verdict(stall=fault.seconds), detail
    return "response"


def respond(
    fault: Fault, units: int, sent_before: int, total: int, tls: bool
) -> tuple[Verdict, str] | None:
    """Decide whether ``fault`` acts on the response unit just seen.

    ``units`` counts response units (records, or chunks for plain TCP) so far
    including this one, ``sent_before`` is the response bytes before it and
    ``total`` the bytes including it.  Returns the verdict and a description
    for the fired-fault record, or None if the fault does not trigger here.
    """
    unit = "record" if tls else "chunk"
    size = total - sent_before
    if fault.kind == FLIP_RESPONSE_RECORD:
        if units != fault.n:
            return None
        return FLIP, f"flipped byte {flip_offset(size)} of response record {units} ({size} bytes)"
    if fault.kind == RST_AFTER_REQUEST:
        return Verdict(before="rst"), f"reset the client instead of forwarding response {unit} 1"
    if fault.kind == STALL:
        return Verdict(stall=fault.seconds), f"stalling the response for {fault.seconds} s"
    if fault.kind == CLOSE_MID_BODY and fault.after is not None:
        if sent_before >= fault.after:
            return Verdict(before="close"), f"closed after {sent_before} response bytes"
        if total >= fault.after:
            sent = total if tls else fault.after
            detail = f"closed after {sent} response bytes ({units} {unit}s)"
            return Verdict(
                close_after=True, limit=None if tls else fault.after - sent_before
            ), detail
    return None
