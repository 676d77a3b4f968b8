"""The one rule for what to do about record sizes, shared by hints and ``soapguard probe``.

A peer or middlebox that mangles large TLS records is cured by asking the server for
smaller ones (the max_fragment_length extension, which only knows 512, 1024, 2048 and
4096 bytes).  The advice only ever moves down: it never suggests a cap above the one in
effect, so an operator who follows it never goes back and forth between two sizes.  When
the server's records were already within the cap and still failed, the next smaller
size is the last thing a cap can try; at 512 nothing smaller exists.  When the server
sent records larger than the cap it agreed to, a smaller cap cannot help at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..tls.profiles import MFL_SIZES, RECORD_OVERHEAD

__all__ = ["LARGE_RECORD", "RecordAdvice", "lower_caps", "record_advice", "server_cap"]

#: records above this (ciphertext) size are "large" for fragile peers
LARGE_RECORD = 4096

Kind = Literal["cap", "lower", "ignored", "floor", "small"]


@dataclass(frozen=True)
class RecordAdvice:
    """What record sizes say about a failure.

    ``kind`` is ``cap`` (no cap on the server's records yet: ask for ``size``), ``lower``
    (the cap was honoured and did not help: try the smaller ``size``), ``ignored`` (the
    server's records exceeded the cap it agreed to), ``floor`` (honoured at 512 already)
    or ``small`` (no large record was seen: sizes are not the evidence).
    """

    kind: Kind
    size: int | None = None
    cap: int | None = None


def server_cap(configured: int | None) -> int | None:
    """The cap a ``SOAPGUARD_MAX_RECORD_SIZE`` puts on the server's records (only MFL sizes do)."""
    return configured if configured in MFL_SIZES else None


def lower_caps(configured: int | None) -> tuple[int, ...]:
    """The max_fragment_length sizes worth trying after ``configured``, largest first.

    Only sizes strictly below the cap in effect (every size when there is none), so a
    recommendation built from them never raises the cap.
    """
    ceiling = configured if configured is not None else LARGE_RECORD + 1
    return tuple(size for size in sorted(MFL_SIZES, reverse=True) if size < ceiling)


def record_advice(configured: int | None, largest_in: int | None) -> RecordAdvice:
    """Advice for an integrity failure on records from the peer.

    ``configured`` is ``SOAPGUARD_MAX_RECORD_SIZE`` (or ``None``), ``largest_in`` the
    largest record length field received (ciphertext, header excluded).
    """
    cap = server_cap(configured)
    if cap is not None and largest_in is not None and largest_in > cap + RECORD_OVERHEAD:
        return RecordAdvice("ignored", cap=cap)
    if cap is None and (largest_in is None or largest_in <= LARGE_RECORD):
        return RecordAdvice("small", cap=configured)
    smaller = lower_caps(configured)
    if not smaller:
        return RecordAdvice("floor", cap=cap)
    return RecordAdvice("lower" if cap is not None else "cap", size=smaller[0], cap=cap)
