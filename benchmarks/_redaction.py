"""Section 8: redaction of a hostile 1 MB response body, on every path it takes.

A server controls its error bodies, zeep puts a whole invalid body into
``TransportError``'s message (as ``%r``), and soapguard redacts that text on
the way to the exception, the event and the logs.  Redaction holds the GIL, so
its cost on the worst input a server can send is what this section measures:
wall time of one call, in this process, no I/O (median of N runs).

Bodies, 1 MB each: dotted runs, unclosed ``<password>`` tags, long base64,
deep nesting, unclosed quotes, credential pairs and URLs; each with and
without line breaks (a body with no blank at all is one token, which the cut
masks whole, so the broken-up variants are the ones that make the patterns
work).  Paths:

* exception: :func:`soapguard.errors.scrub_chain` of a ``TransportError``
  built as zeep builds it, inside a call scope holding a password;
* failure message: :func:`soapguard.classify.classify` of that exception (its
  redacted ``error.message``);
* payload log: :func:`soapguard.diagnostics.redact.redact_xml` of the body, as
  ``SOAPGUARD_LOG_PAYLOADS`` logs it;
* log record: the log filter on zeep's "HTTP Response ..." record carrying
  the body, inside a call.
"""

from __future__ import annotations

import base64
import logging
import statistics
from collections.abc import Callable

from _measure import Row, judged, ms, timed

from soapguard.classify import classify
from soapguard.diagnostics.logs import RedactingFilter
from soapguard.diagnostics.redact import redact_xml
from soapguard.diagnostics.scrub import scrub_chain
from soapguard.diagnostics.secrets import SecretScope, call_scope

MB = 1_000_000
TARGET_S = 0.050


def _lines(unit: str, width: int = 76) -> str:
    """``unit`` repeated into lines of about ``width`` characters, 1 MB in all."""
    line = unit * max(1, width // len(unit)) + "\n"
    return (line * (MB // len(line) + 1))[:MB]


def bodies() -> dict[str, bytes]:
    blob = base64.b64encode(bytes(range(256)) * (MB // 340)).decode()[:MB]
    shapes = {
        "dotted run": "a." * (MB // 2),
        "dotted lines": _lines("a.", 2000),
        "unclosed tags": "<password>" * (MB // 10),
        "unclosed tags, spaced": "<password> x " * (MB // 13),
        "base64": blob,
        "base64, MIME lines": "\n".join(blob[i : i + 76] for i in range(0, len(blob), 76)),
        "deep nesting": "<a>" * (MB // 3),
        "deep nesting, spaced": "<a> " * (MB // 4),
        "unclosed quotes": ' a="' * (MB // 4),
        "pairs and URLs": _lines("password=x https://u:p@h/?token=t Authorization: y "),
    }
    return {name: text.encode()[:MB] for name, text in shapes.items()}


def _transport_error(body: bytes) -> Exception:
    from zeep.exceptions import TransportError

    # zeep's own wording (zeep.wsdl.bindings.soap): the whole body, as %r
    message = (
        f"Server returned response (500) with invalid XML: Document is empty.\nContent: {body!r}"
    )
    error: Exception = TransportError(message, status_code=500, content=body)  # type: ignore[no-untyped-call]
    return error


def _paths(body: bytes) -> dict[str, Callable[[], Callable[[], object]]]:
    """Per path: a factory (untimed) of the call to time."""
    text = body.decode()

    def exception() -> Callable[[], object]:
        error = _transport_error(body)
        return lambda: scrub_chain(error)

    def failure() -> Callable[[], object]:
        error = _transport_error(body)
        return lambda: classify(error)

    def payload() -> Callable[[], object]:
        return lambda: redact_xml(body, ("account",))

    def record() -> Callable[[], object]:
        rec = logging.LogRecord(
            "zeep.transports", logging.DEBUG, __file__, 1,
            "HTTP Response from %s (status: %d):\n%s", ("https://h/svc", 500, text), None,
        )  # fmt: skip
        return lambda: RedactingFilter().filter(rec)

    return {
        "exception (scrub of zeep's TransportError)": exception,
        "failure message (classify)": failure,
        "payload log (redact_xml)": payload,
        "log record (filter inside a call)": record,
    }


def redaction(runs: int) -> list[Row]:
    """The slowest body's median per path, against the 50 ms target."""
    scope = SecretScope(["account"])
    scope.add("Known-Pa55word-1")
    results: dict[str, dict[str, float]] = {}
    with call_scope(scope):
        for body_name, body in bodies().items():
            for path, factory in _paths(body).items():
                seconds = [timed(factory()) for _ in range(max(1, runs))]
                results.setdefault(path, {})[body_name] = statistics.median(seconds)
    rows = []
    for path, per_body in results.items():
        worst = max(per_body, key=per_body.__getitem__)
        rows.append(
            Row(
                section="8 redaction",
                metric=f"{path}, slowest of {len(per_body)} hostile 1 MB bodies",
                result=f"{ms(per_body[worst])} ({worst})",
                target=f"<= {ms(TARGET_S)}",
                status=judged(per_body[worst] <= TARGET_S),
                detail="; ".join(f"{name} {ms(s)}" for name, s in per_body.items()),
                data={"seconds": per_body, "runs": runs},
            )
        )
    return rows
