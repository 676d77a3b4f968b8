"""Transports: where a SOAP call becomes bytes on a connection, and where evidence is recorded.

* :mod:`.sync` -- :class:`Transport`, the ``zeep.Transport`` over requests/urllib3;
* :mod:`.asyncio` -- :class:`AsyncTransport`, the ``zeep.transports.AsyncTransport`` over
  httpx, with :mod:`._httpx` (its evidence, connection hygiene and per-endpoint slots) and
  :mod:`._aionet` (httpcore's network layer on asyncio's transports: :mod:`._aiostream`,
  :mod:`._aiosocket`);
* :mod:`.adapter` -- the requests adapter: soapguard's SSL context, pools, no hidden retries;
* :mod:`.connection` -- urllib3 connections and pools: evidence, idle/age checks, a bounded
  pool;
* :mod:`.deadline` -- sockets that never wait past the call's deadline;
* :mod:`.wire` -- the wire shape of every request: Content-Length, never chunked, no Expect;
* :mod:`.evidence` -- what one attempt and one connection were observed to do;
* :mod:`.redirects` -- which redirects a call may follow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from .asyncio import AsyncTransport
    from .sync import Transport

__all__ = ["AsyncTransport", "Transport"]
__getattr__, __dir__ = attach(__name__, {"AsyncTransport": ".asyncio", "Transport": ".sync"})
