"""A failure as the commands print it: classified, redacted, with its hint.

The text of a urllib3 or requests exception names internals (a pool's repr, a
connection class, "Max retries exceeded") and may carry a URL's secrets, so the
commands never print it.  They print what the diagnostic events say instead:
``error.type``, ``phase``, ``request_sent`` and the redacted ``error.message`` of the
failure, from the exception's ``.report`` when soapguard raised it, else from
:func:`soapguard.classify.classify` (a WSDL that cannot be loaded is fetched
outside the attempt loop, so its exception has no report), and the operator hint
where one applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..classify.core import classify, failure_fields
from ..diagnostics.hints import hint_for
from ..errors import headline as error_headline
from ..errors import outcome_note

__all__ = ["describe", "headline"]

#: the fields of a described failure, in the order they are worth reading
FIELDS = (
    "error.type", "error.origin", "phase", "request_sent", "error.message", "outcome",
    "decision_reason", "hint",
)  # fmt: skip


def describe(exc: BaseException) -> dict[str, Any]:
    """The classified failure of ``exc`` as event fields (:data:`FIELDS`) and ``raised``."""
    report = getattr(exc, "report", None)
    if isinstance(report, Mapping) and isinstance(report.get("error.type"), str):
        fields: Mapping[str, Any] = report
    else:
        fields = failure_fields(classify(exc))
        fields = {**fields, "hint": hint_for(fields)}
    return {"raised": type(exc).__name__, **{key: fields.get(key) for key in FIELDS}}


def headline(failure: Mapping[str, Any]) -> str:
    """One line, worded as soapguard's exceptions word it:
    ``tls.handshake_failure (peer) during handshake, request_sent=none: message``."""
    text = error_headline(
        failure.get("error.type"),
        failure.get("error.origin"),
        failure.get("phase"),
        failure.get("request_sent"),
        failure.get("error.message"),
    )
    if failure.get("outcome") == "unknown":  # a write that may have run: say so
        text += f"; {outcome_note(failure.get('decision_reason'))}"
    return text
