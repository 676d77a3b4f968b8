"""soapguard: a drop-in ``zeep.Client`` for SOAP endpoints behind fragile TLS peers.

>>> import soapguard
>>> client = soapguard.Client("https://host/svc?wsdl")   # doctest: +SKIP
>>> client.service.GetBalance(account="42")                # doctest: +SKIP
>>> async_client = soapguard.AsyncClient("https://host/svc?wsdl")   # doctest: +SKIP
>>> await async_client.service.GetBalance(account="42")            # doctest: +SKIP

See the README for configuration (``SOAPGUARD_*``), the failure taxonomy and
the diagnostic event schema.

The public names are imported lazily (PEP 562): ``import soapguard`` stays
cheap for tools that only need a part of it (the pytest plugin, ``soapguard
config``), and zeep/requests are loaded on first use of ``Client`` or
``Transport``; httpx (the ``async`` extra) only on first use of ``AsyncClient`` or
``AsyncTransport``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client.asyncio import AsyncClient
    from .client.sync import Client
    from .config import Config
    from .diagnostics.logs import install_log_redaction, remove_log_redaction
    from .errors import CircuitOpenError, ConfigError, DeadlineExceeded, SoapGuardError
    from .retry.identity import idempotency_key, idempotent
    from .transport.asyncio import AsyncTransport
    from .transport.sync import Transport

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {
    "AsyncClient": ".client.asyncio",
    "AsyncTransport": ".transport.asyncio",
    "Client": ".client.sync",
    "Config": ".config",
    "CircuitOpenError": ".errors",
    "ConfigError": ".errors",
    "DeadlineExceeded": ".errors",
    "SoapGuardError": ".errors",
    "Transport": ".transport.sync",
    "idempotency_key": ".retry.identity",
    "idempotent": ".retry.identity",
    "install_log_redaction": ".diagnostics.logs",
    "remove_log_redaction": ".diagnostics.logs",
}

__all__ = [
    "AsyncClient",
    "AsyncTransport",
    "CircuitOpenError",
    "Client",
    "Config",
    "ConfigError",
    "DeadlineExceeded",
    "SoapGuardError",
    "Transport",
    "__version__",
    "idempotency_key",
    "idempotent",
    "install_log_redaction",
    "remove_log_redaction",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups are plain attribute access
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
