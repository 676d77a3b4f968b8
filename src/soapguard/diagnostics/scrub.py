"""Redacting an exception in place, with everything chained to it, before it propagates.

urllib3 writes the request URL, query string included, into its messages, zeep puts
whole response bodies (a server may echo the request) into ``TransportError`` and
``Fault`` messages, and a traceback prints the whole chain: so soapguard scrubs the
rendered text of every exception it lets out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

__all__ = ["scrub_chain"]

#: text attributes that exceptions render (``str``, ``repr``, tracebacks): zeep's ``message``
#: (its ``repr``), ``filename``, ``content`` of ``EntitiesForbidden``, ``DTDForbidden``'s
#: ids, and ``OSError``'s ``strerror``/``filename``, which its ``str`` uses instead of ``args``
_RENDERED = ("message", "strerror", "filename", "filename2", "content", "sysid", "pubid", "url")
_SCRUBBED = "_soapguard_scrubbed"


def scrub_chain(exc: BaseException, limit: int = 32) -> None:
    """Redact, in place, the rendered text of ``exc`` and of every exception linked to it.

    urllib3 writes the request URL, query string included, into its messages,
    zeep puts whole response bodies (a server may echo the request) into
    ``TransportError`` and ``Fault`` messages, and a traceback prints the
    whole chain.  So before soapguard raises, every string in ``args``, every
    attribute in :data:`_RENDERED` that holds a string, and ``__notes__`` go
    through :func:`soapguard.diagnostics.redact.redact_text` (bounded, and with the active
    call's secret scope).  Data that is not rendered stays as received:
    ``TransportError.content`` (bytes), ``Fault.detail`` (an element),
    ``requests``' ``.request``/``.response``.  Each exception is scrubbed once.
    """
    from .redact import redact_text, redact_url  # with the first exception let out

    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < limit:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if not getattr(current, _SCRUBBED, False):
            _scrub_one(current, redact_text, redact_url)
        linked = (current.__cause__, current.__context__, _get(current, "reason"))
        todo.extend(e for e in (*linked, *current.args) if isinstance(e, BaseException))


def _get(obj: object, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # a property that raises
        return None


def _scrub_one(exc: BaseException, text: Callable[[str], str], url: Callable[[str], str]) -> None:
    exc.args = tuple(text(a) if isinstance(a, str) else a for a in exc.args)
    for name in _RENDERED:
        value = _get(exc, name)
        if isinstance(value, str):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(exc, name, url(value) if name == "url" else text(value))
    notes = _get(exc, "__notes__")
    if isinstance(notes, list):
        notes[:] = [text(n) if isinstance(n, str) else n for n in notes]
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, _SCRUBBED, True)
