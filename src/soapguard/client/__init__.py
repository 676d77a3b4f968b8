"""Clients: the drop-in ``zeep.Client`` (:mod:`.sync`), ``zeep.AsyncClient`` (:mod:`.asyncio`,
which needs httpx: imported only on first use) and their guarded operation proxies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from .asyncio import AsyncClient, GuardedAsyncOperationProxy, GuardedAsyncServiceProxy
    from .sync import Client, GuardedOperationProxy, GuardedServiceProxy

_SYNC = ("Client", "GuardedOperationProxy", "GuardedServiceProxy")
_ASYNC = ("AsyncClient", "GuardedAsyncOperationProxy", "GuardedAsyncServiceProxy")
__all__ = [
    "AsyncClient",
    "Client",
    "GuardedAsyncOperationProxy",
    "GuardedAsyncServiceProxy",
    "GuardedOperationProxy",
    "GuardedServiceProxy",
]
__getattr__, __dir__ = attach(
    __name__, {**dict.fromkeys(_SYNC, ".sync"), **dict.fromkeys(_ASYNC, ".asyncio")}
)
