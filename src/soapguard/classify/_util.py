"""Small, total helpers for :mod:`soapguard.classify`: safe attribute access,
exception-chain walking, messages, redaction and ``Retry-After`` parsing.

Nothing here raises on odd input: exceptions with a broken ``__str__``, a
``reason`` property that raises, cyclic chains or non-string headers all give
a sensible answer instead.
"""

from __future__ import annotations

import collections
import email.utils
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import timezone
from typing import Any

from ..diagnostics.redact import redact_text

#: how many exceptions :func:`walk` visits at most
CHAIN_LIMIT = 32
#: how many ``args`` of one exception are inspected for nested exceptions
_ARGS_LIMIT = 8
#: longest ``Failure.message``
MESSAGE_LIMIT = 300

#: RFC 9110 delay-seconds, leniently with a fraction (some servers send "0.5"); at
#: most 10 integer digits so an absurd value counts as unparsable
_DELAY_SECONDS = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,6})?")
_WRAPPER_TEXT = "Max retries exceeded"
#: how urllib3 names a connection or pool at the start of a message: an object repr (2.0),
#: or the class with its host and port (later versions; soapguard's own class names are
#: internal and must not leak into messages)
_CONNECTION_REPR = re.compile(
    r"(?:<[\w.]*Connection object at 0x[0-9a-fA-F]+>"
    r"|_?\w*(?:Connection|Pool)\(host='([^']*)', port=(\d+)\)): "
)
_NEW_CONNECTION = "Failed to establish a new connection"
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@]+@")


def safe_getattr(obj: object, name: str) -> Any:
    """``getattr(obj, name, None)`` that also survives a raising property."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def safe_str(exc: object) -> str:
    try:
        text = str(exc)
    except Exception:
        return ""
    return text if isinstance(text, str) else ""


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc``'s message says it timed out (old ``ssl`` and pyOpenSSL style)."""
    return "timed out" in safe_str(exc).lower()


def _links(exc: BaseException) -> Iterator[BaseException]:
    """Exceptions directly reachable from ``exc``, most specific link first."""
    reason = safe_getattr(exc, "reason")  # urllib3 MaxRetryError / ProxyError
    if isinstance(reason, BaseException):
        yield reason
    args = safe_getattr(exc, "args")
    if isinstance(args, tuple | list):
        for arg in args[:_ARGS_LIMIT]:
            if isinstance(arg, BaseException):
                yield arg
    for name in ("__cause__", "__context__"):
        linked = safe_getattr(exc, name)
        if isinstance(linked, BaseException):
            yield linked


def walk(exc: BaseException, limit: int = CHAIN_LIMIT) -> list[BaseException]:
    """Breadth-first, deduplicated, bounded list of ``exc`` and what it links to."""
    if not isinstance(exc, BaseException):
        return []
    out: list[BaseException] = []
    seen: set[int] = set()
    queue: collections.deque[BaseException] = collections.deque([exc])
    while queue and len(out) < limit:
        current = queue.popleft()
        if id(current) in seen:
            continue
        seen.add(id(current))
        out.append(current)
        for linked in _links(current):
            if id(linked) not in seen and len(queue) < limit:
                queue.append(linked)
    return out


def first(
    chain: list[BaseException], test: Callable[[BaseException], bool]
) -> BaseException | None:
    """The first exception of ``chain`` (outermost first) that passes ``test``."""
    return next((e for e in chain if test(e)), None)


def last(chain: list[BaseException], test: Callable[[BaseException], bool]) -> BaseException | None:
    """The last (deepest) exception of ``chain`` that passes ``test``."""
    return next((e for e in reversed(chain) if test(e)), None)


def message_for(evidence: BaseException, chain: list[BaseException]) -> str:
    """A meaningful message: ``evidence``'s own (or its type's name when it has none).

    Never the "Max retries exceeded ..." text of urllib3's retry wrapper, which
    names the retry machinery rather than the failure: then the innermost
    message in ``chain`` that is not the wrapper's.  urllib3's way of naming the
    connection (an object repr, or a connection class's name) is replaced by the
    host and port it was for.
    """
    for exc in (evidence, *reversed(chain)):
        text = safe_str(exc).strip()
        if _WRAPPER_TEXT not in text:
            return _plain_connection(text, exc) or type(exc).__name__
    return type(evidence).__name__


def _plain_connection(text: str, exc: BaseException) -> str:
    found = _CONNECTION_REPR.match(text)
    if found is None:
        return text
    rest = text[found.end() :]
    host, port = found.group(1), found.group(2)
    conn = safe_getattr(exc, "conn")
    if host is None:
        host, port = safe_getattr(conn, "host"), safe_getattr(conn, "port")
    if host and rest.startswith(_NEW_CONNECTION):
        rest = f"{_NEW_CONNECTION} to {host}:{port}{rest[len(_NEW_CONNECTION) :]}"
    return rest


def _scrub(text: str) -> str:
    return _USERINFO.sub(r"\1***@", text)


def redact(text: str) -> str:
    """Redact ``text`` with :func:`soapguard.diagnostics.redact.redact_text`, then cap its length.

    Falls back to scrubbing URL credentials (``scheme://user:pass@``) if
    redaction fails, so classification never raises.
    """
    try:
        text = redact_text(text, limit=MESSAGE_LIMIT)
    except Exception:  # redaction is greedy regex work; never let it break classify
        text = _scrub(text[:MESSAGE_LIMIT])
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 3] + "..."
    return text


def header(headers: object, name: str) -> str | None:
    """Case-insensitive lookup of ``name`` in a mapping of headers."""
    if not isinstance(headers, Mapping):
        return None
    try:
        value = headers.get(name)
        if value is None:
            wanted = name.lower()
            value = next(
                (v for k, v in headers.items() if isinstance(k, str) and k.lower() == wanted),
                None,
            )
    except Exception:
        return None
    return value if isinstance(value, str) else None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date).

    An HTTP-date in the past gives ``0.0``; anything unparsable gives ``None``.
    ``now`` (a Unix timestamp) defaults to the current time.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110: HTTP-dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
