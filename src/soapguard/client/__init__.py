"""Clients: the drop-in ``zeep.Client`` (:mod:`.sync`) and the guarded operation proxies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from .sync import Client, GuardedOperationProxy, GuardedServiceProxy

__all__ = ["Client", "GuardedOperationProxy", "GuardedServiceProxy"]
__getattr__, __dir__ = attach(__name__, dict.fromkeys(__all__, ".sync"))
