"""The wire shape of every request soapguard sends: Content-Length, never chunked, no Expect.

Mainframe HTTP stacks refuse chunked requests (CICS requires ``Content-Length`` on an
HTTP/1.1 request with a body; a z/OS HTTP plugin answered 500 to chunked POSTs), and an
intermediary that ignores ``Expect: 100-continue`` stalls the call until it times out.
So whatever the application or a plugin sets, a body travels with its length, and
neither ``Transfer-Encoding`` nor ``Expect`` is sent.  The connection classes of
:mod:`.connection` apply :func:`wire_shape` to every request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPHeaderDict

logger = logging.getLogger(__name__)

#: request headers soapguard never sends (it frames every body with Content-Length)
_NEVER_SENT = frozenset({"transfer-encoding", "expect"})


def wire_shape(
    body: Any, headers: Mapping[str, str], chunked: bool
) -> tuple[Any, Mapping[str, str]]:
    """``body`` and ``headers`` as soapguard sends them: Content-Length framing, no Expect.

    The common case (a bytes body, no header to drop) returns both unchanged.
    Otherwise ``Expect`` and ``Transfer-Encoding`` are dropped, and a body that is a
    file or an iterable is read into memory so that it can travel with its length.
    """
    streamed = body is not None and not isinstance(body, bytes | bytearray | memoryview | str)
    if isinstance(headers, CaseInsensitiveDict | HTTPHeaderDict):  # what requests hands urllib3
        drop = [name for name in _NEVER_SENT if name in headers]
        if drop:
            drop = [name for name in headers if name.lower() in _NEVER_SENT]
    else:
        drop = [name for name in headers if name.lower() in _NEVER_SENT]
    if not drop and not streamed and not chunked:
        return body, headers
    if drop:
        logger.debug("not sending %s: soapguard frames every body with Content-Length", drop)
    shaped = {name: value for name, value in headers.items() if name.lower() not in _NEVER_SENT}
    if streamed:
        body = _read_all(body)
    if body is not None or chunked:
        length = len(body.encode("utf-8") if isinstance(body, str) else (body or b""))
        for name in [n for n in shaped if n.lower() == "content-length"]:
            del shaped[name]
        shaped["Content-Length"] = str(length)
    return body, shaped


def _read_all(body: Any) -> bytes:
    """A file-like or iterable request body, read into one bytes object."""
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    parts: Iterable[Any] = body
    return b"".join(p.encode("utf-8") if isinstance(p, str) else bytes(p) for p in parts)
