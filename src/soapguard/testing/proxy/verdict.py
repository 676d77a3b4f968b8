"""What the proxy does with one record or chunk, and how response faults decide it.

A :class:`Verdict` is the answer a session gives a pump for each unit it is
about to forward.  :func:`respond` holds the rules for the per-request faults
that act on the response (flip, reset, close mid-body, stall).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .faults import (
    CLOSE_MID_BODY,
    FLIP_RESPONSE_RECORD,
    RST_AFTER_REQUEST,
    STALL,
    Fault,
)
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
