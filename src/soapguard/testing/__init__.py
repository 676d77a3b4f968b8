"""Test helpers for soapguard and its users: a fault-injecting TLS-aware proxy.

``FaultProxy`` sits between a client and a real TLS (or plain TCP) server on
loopback and injects the failures fragile enterprise TLS peers produce: damaged
records (``bad record MAC``), resets, truncated bodies and stalls.  See
``docs/fault-proxy.md``.

Names load on first use (PEP 562): the pytest plugin in this package is loaded
into every pytest run once soapguard is installed, and must cost nothing there.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .proxy.faults import SPEC_FORMS, Fault
    from .proxy.server import FaultProxy
    from .proxy.stats import ConnectionRecord, FiredFault, ProxyStats, UpstreamFailure

_LAZY = {
    "SPEC_FORMS": ".proxy.faults",
    "Fault": ".proxy.faults",
    "FaultProxy": ".proxy.server",
    "ConnectionRecord": ".proxy.stats",
    "FiredFault": ".proxy.stats",
    "ProxyStats": ".proxy.stats",
    "UpstreamFailure": ".proxy.stats",
}

__all__ = [
    "SPEC_FORMS",
    "ConnectionRecord",
    "Fault",
    "FaultProxy",
    "FiredFault",
    "ProxyStats",
    "UpstreamFailure",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
