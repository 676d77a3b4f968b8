"""The exceptions of :class:`soapguard.AsyncClient` and :class:`soapguard.AsyncTransport`.

Bare ``zeep.AsyncClient`` lets httpx's exceptions through (and, for a TLS failure
while reading a response, a raw ``ssl.SSLError``), so the async client raises classes
that subclass :class:`~soapguard.SoapGuardError` *and* that class: an existing
``except httpx.ReadTimeout`` or ``except ssl.SSLError`` keeps working::

    Exception
    └── SoapGuardError                        .report, .failure (as in soapguard.errors)
        └── RequestError                      also httpx.RequestError
            ├── ConnectError                  also httpx.ConnectError
            │   └── CircuitOpenError          also soapguard.CircuitOpenError (circuit.open)
            ├── ReadError                     also httpx.ReadError
            ├── WriteError                    also httpx.WriteError
            ├── RemoteProtocolError           also httpx.RemoteProtocolError
            ├── ProxyError                    also httpx.ProxyError
            ├── ConnectTimeout                also httpx.ConnectTimeout
            ├── ReadTimeout                   also httpx.ReadTimeout
            ├── WriteTimeout                  also httpx.WriteTimeout
            ├── PoolTimeout                   also httpx.PoolTimeout   (error.type timeout.pool)
            ├── DeadlineExceeded              also httpx.TimeoutException (timeout.deadline)
            └── SSLError                      also ssl.SSLError
                └── TLSConnectError, TLSReadError, TLSWriteError
                                              a tls.* failure httpx reported as its
                                              ConnectError/ReadError/WriteError: both

    zeep.exceptions.Fault, TransportError  raised as they are, with .report attached

The messages are the sync client's (:func:`soapguard.errors.describe`): what failed,
in which phase, whether the request left; never a secret.  This module imports httpx:
the synchronous client never imports it.
"""

from __future__ import annotations

import contextlib
import ssl

import httpx

from . import errors
from .classify.failure import Failure
from .errors import SoapGuardError, describe

__all__ = [
    "CircuitOpenError",
    "ConnectError",
    "ConnectTimeout",
    "DeadlineExceeded",
    "PoolTimeout",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "RequestError",
    "SSLError",
    "TLSConnectError",
    "TLSReadError",
    "TLSWriteError",
    "WriteError",
    "WriteTimeout",
    "error_for",
]


class RequestError(SoapGuardError, httpx.RequestError):
    """A failed HTTP exchange of the async client.  Also an ``httpx.RequestError``."""


class ConnectError(RequestError, httpx.ConnectError):
    pass


# httpx and requests annotate ``request`` differently; at runtime httpx's (first in the
# MRO) is the one in effect, as for every other class here
class CircuitOpenError(ConnectError, errors.CircuitOpenError):  # type: ignore[misc]
    """Every endpoint's circuit breaker is open: failed fast, nothing was sent.

    Also ``soapguard.CircuitOpenError``, so one ``except`` clause serves both clients.
    """


class ReadError(RequestError, httpx.ReadError):
    pass


class WriteError(RequestError, httpx.WriteError):
    pass


class RemoteProtocolError(RequestError, httpx.RemoteProtocolError):
    pass


class ProxyError(RequestError, httpx.ProxyError):
    pass


class ConnectTimeout(RequestError, httpx.ConnectTimeout):
    pass


class ReadTimeout(RequestError, httpx.ReadTimeout):
    pass


class WriteTimeout(RequestError, httpx.WriteTimeout):
    pass


class PoolTimeout(RequestError, httpx.PoolTimeout):
    """No connection to the endpoint became free in time; nothing was sent."""


class DeadlineExceeded(RequestError, httpx.TimeoutException):
    """The call's ``SOAPGUARD_DEADLINE`` expired (``error.type`` ``timeout.deadline``)."""


class SSLError(RequestError, ssl.SSLError):
    """A TLS failure; also the ``ssl.SSLError`` bare zeep would have let through.

    ``library`` and ``reason`` carry OpenSSL's, as on the original.
    """

    def __str__(self) -> str:  # ssl.SSLError would print its args tuple
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class TLSConnectError(ConnectError, SSLError):
    """A TLS failure that httpx reported as ``ConnectError``: also an ``ssl.SSLError``."""


class TLSReadError(ReadError, SSLError):
    """A TLS failure that httpx reported as ``ReadError``: also an ``ssl.SSLError``."""


class TLSWriteError(WriteError, SSLError):
    """A TLS failure that httpx reported as ``WriteError``: also an ``ssl.SSLError``."""


#: a ``tls.*`` failure httpx reported as one of these is raised as both classes
_TLS_AS: tuple[tuple[type[BaseException], type[RequestError]], ...] = (
    (httpx.ConnectError, TLSConnectError),
    (httpx.ReadError, TLSReadError),
    (httpx.WriteError, TLSWriteError),
)

# most specific first: the first httpx class the original is an instance of wins
_BY_HTTPX_CLASS: tuple[tuple[type[BaseException], type[RequestError]], ...] = (
    (httpx.ConnectTimeout, ConnectTimeout),
    (httpx.ReadTimeout, ReadTimeout),
    (httpx.WriteTimeout, WriteTimeout),
    (httpx.PoolTimeout, PoolTimeout),
    (httpx.ConnectError, ConnectError),
    (httpx.ReadError, ReadError),
    (httpx.WriteError, WriteError),
    (httpx.RemoteProtocolError, RemoteProtocolError),
    (httpx.ProxyError, ProxyError),
)

# when the original is not an httpx exception, pick by taxonomy
_BY_TYPE_PREFIX: tuple[tuple[str, type[RequestError]], ...] = (
    ("timeout.connect", ConnectTimeout),
    ("timeout.read", ReadTimeout),
    ("timeout.pool", PoolTimeout),
    ("tls.", SSLError),
    ("connection.reset", ReadError),
    ("connection.", ConnectError),
)


def error_for(failure: Failure, original: BaseException) -> RequestError:
    """The async client's exception for ``failure``, of the family ``original`` belongs to."""
    cls: type[RequestError] = RequestError
    if failure.type == "timeout.deadline":
        cls = DeadlineExceeded
    elif failure.type == "circuit.open":
        cls = CircuitOpenError
    elif isinstance(original, ssl.SSLError) or (
        failure.type.startswith("tls.") and not isinstance(original, httpx.HTTPError)
    ):
        cls = SSLError
    elif isinstance(original, httpx.HTTPError):
        cls = next((sg for hx, sg in _BY_HTTPX_CLASS if isinstance(original, hx)), RequestError)
        if failure.type.startswith("tls."):  # narrower: httpx's class and ssl.SSLError
            cls = next((sg for hx, sg in _TLS_AS if isinstance(original, hx)), cls)
    else:
        cls = next((sg for p, sg in _BY_TYPE_PREFIX if failure.type.startswith(p)), RequestError)
    err = cls(describe(failure))
    err.failure = failure
    if isinstance(err, SSLError):
        err.library, err.reason = failure.library, failure.reason  # type: ignore[assignment]
    if isinstance(original, httpx.RequestError):
        with contextlib.suppress(RuntimeError):  # httpx raises when it carries no request
            err.request = original.request
    return err
