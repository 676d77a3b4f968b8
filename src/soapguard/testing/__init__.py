"""Test helpers for soapguard and its users: a fault-injecting TLS-aware proxy.

``FaultProxy`` sits between a client and a real TLS (or plain TCP) server on
loopback and injects the failures fragile enterprise TLS peers produce: damaged
records (``bad record MAC``), resets, truncated bodies and stalls.  See
``docs/fault-proxy.md``.
"""

from ._faults import SPEC_FORMS, Fault
from ._proxy import FaultProxy
from ._stats import ConnectionRecord, FiredFault, ProxyStats

__all__ = ["SPEC_FORMS", "ConnectionRecord", "Fault", "FaultProxy", "FiredFault", "ProxyStats"]
