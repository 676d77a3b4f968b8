"""soapguard: a drop-in ``zeep.Client`` for SOAP endpoints behind fragile TLS peers.

>>> import soapguard
>>> client = soapguard.Client("https://host/svc?wsdl")   # doctest: +SKIP
>>> client.service.GetBalance(account="42")                # doctest: +SKIP

See the README for configuration (``SOAPGUARD_*``), the failure taxonomy and
the diagnostic event schema.
"""

from __future__ import annotations

import logging

from .client import Client
from .config import Config
from .errors import ConfigError, DeadlineExceeded, SoapGuardError
from .retry import idempotent
from .transport import Transport

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Client",
    "Config",
    "ConfigError",
    "DeadlineExceeded",
    "SoapGuardError",
    "Transport",
    "__version__",
    "idempotent",
]
