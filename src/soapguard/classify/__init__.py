"""Classification: the one place that turns a failed attempt into soapguard's taxonomy.

:func:`classify` (in :mod:`.core`) takes the exception an attempt raised and the
evidence its connection recorded, and returns a :class:`Failure`.  The ordered rules
live in :mod:`.rules` (and :mod:`.tls` for OpenSSL reasons).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from ._util import parse_retry_after
    from .core import classify, failure_fields, mapped_errors
    from .facts import TYPES
    from .failure import Failure

__all__ = [
    "TYPES",
    "Failure",
    "classify",
    "failure_fields",
    "mapped_errors",
    "parse_retry_after",
]
__getattr__, __dir__ = attach(
    __name__,
    {
        **dict.fromkeys(("classify", "failure_fields", "mapped_errors"), ".core"),
        "TYPES": ".facts",
        "parse_retry_after": "._util",
        "Failure": ".failure",
    },
)
