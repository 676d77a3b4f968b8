"""soapguard's exceptions.

Every failure a call gives up on is raised as the class *bare zeep would have
raised*, so existing ``except`` clauses keep working; soapguard's own classes
subclass both :class:`SoapGuardError` and that class::

    Exception
    └── SoapGuardError                         .report: the final event + "attempts"
        ├── ConfigError                        also ValueError
        ├── DependencyError                    also ImportError (soapguard._compat)
        └── RequestError                       also requests.RequestException
            ├── ConnectionError                also requests.ConnectionError
            │   ├── SSLError                   also requests.exceptions.SSLError
            │   ├── ProxyError                 also requests.exceptions.ProxyError
            │   ├── ConnectTimeout             also requests.exceptions.ConnectTimeout
            │   │   └── PoolTimeout            error.type "timeout.pool": no pooled connection
            │   │                              became free in time; nothing was sent
            │   └── CircuitOpenError           error.type "circuit.open": nothing was sent
            ├── Timeout                        also requests.exceptions.Timeout
            │   ├── ReadTimeout                also requests.exceptions.ReadTimeout
            │   └── DeadlineExceeded           error.type "timeout.deadline"
            ├── ChunkedEncodingError           also requests.exceptions.ChunkedEncodingError
            ├── ContentDecodingError           also requests.exceptions.ContentDecodingError
            ├── HTTPError                      also requests.exceptions.HTTPError
            ├── TooManyRedirects               also requests.exceptions.TooManyRedirects
            └── InvalidURL                     also requests.exceptions.InvalidURL

    zeep.exceptions.Fault, TransportError, XMLSyntaxError  raised as they are, with .report
                                                          attached and their text scrubbed

Messages say what failed, in which phase and whether the request left, e.g.
``tls.bad_record_mac (local) during receive, request_sent=full: [SSL:
DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed or bad record mac``.
They never say "Max retries exceeded" and never contain secrets: the message
comes from :mod:`soapguard.classify`, which redacts it.

All classes pickle (the report survives, the ``request``/``response`` objects
that requests attaches do not).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import requests.exceptions as rex

if TYPE_CHECKING:
    from .classify.failure import Failure

__all__ = [
    "ChunkedEncodingError",
    "CircuitOpenError",
    "ConfigError",
    "ConnectTimeout",
    "ConnectionError",
    "ContentDecodingError",
    "DeadlineExceeded",
    "HTTPError",
    "InvalidURL",
    "PoolTimeout",
    "ProxyError",
    "ReadTimeout",
    "RequestError",
    "SSLError",
    "SoapGuardError",
    "Timeout",
    "TooManyRedirects",
    "error_for",
    "headline",
    "outcome_note",
    "with_outcome",
]


class SoapGuardError(Exception):
    """Base of every exception soapguard raises itself."""

    report: dict[str, Any]
    #: the classification this exception was raised for (None for configuration errors)
    failure: Failure | None = None

    def __init__(self, *args: Any, report: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report = dict(report) if report else {}

    def __reduce__(self) -> tuple[Any, ...]:
        message = self.args[0] if self.args else ""
        return (type(self), (message,), {"report": self.report})


class ConfigError(SoapGuardError, ValueError):
    """Invalid configuration.  ``problems`` lists ``(variable, what was expected)``."""

    def __init__(self, problems: Sequence[tuple[str, str]] | str, **kwargs: Any) -> None:
        if isinstance(problems, str):  # unpickling passes the message back
            self.problems: list[tuple[str, str]] = []
            super().__init__(problems, **kwargs)
            return
        self.problems = list(problems)
        lines = "; ".join(f"{name}: {msg}" for name, msg in self.problems)
        super().__init__(f"invalid soapguard configuration: {lines}", **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0],), {"report": self.report, "problems": self.problems})


class RequestError(SoapGuardError, rex.RequestException):
    """A failed HTTP exchange.  Also a ``requests.RequestException``."""


class ConnectionError(RequestError, rex.ConnectionError):
    pass


class SSLError(ConnectionError, rex.SSLError):
    pass


class ProxyError(ConnectionError, rex.ProxyError):
    pass


class ConnectTimeout(ConnectionError, rex.ConnectTimeout):
    pass


class PoolTimeout(ConnectTimeout):
    """Every connection the pool may hold for the endpoint stayed busy: nothing was sent.

    A ``ConnectTimeout`` because, as requests documents for that class, the request
    never reached the server and is safe to retry.
    """


class Timeout(RequestError, rex.Timeout):
    pass


class ReadTimeout(Timeout, rex.ReadTimeout):
    pass


class CircuitOpenError(ConnectionError):
    """Every endpoint's circuit breaker is open: the call failed fast, nothing was sent.

    ``.report["retry_after_s"]`` says when the next probe of an endpoint is allowed.
    """


class DeadlineExceeded(Timeout):
    """The call's ``SOAPGUARD_DEADLINE`` expired before or between attempts."""


class ChunkedEncodingError(RequestError, rex.ChunkedEncodingError):
    pass


class HTTPError(RequestError, rex.HTTPError):
    pass


class TooManyRedirects(RequestError, rex.TooManyRedirects):
    pass


class InvalidURL(RequestError, rex.InvalidURL):
    pass


class ContentDecodingError(RequestError, rex.ContentDecodingError):
    pass


# most specific first: the first requests class the original is an instance of wins
_BY_REQUESTS_CLASS: tuple[tuple[type[BaseException], type[RequestError]], ...] = (
    (rex.SSLError, SSLError),
    (rex.ProxyError, ProxyError),
    (rex.ConnectTimeout, ConnectTimeout),
    (rex.ReadTimeout, ReadTimeout),
    (rex.Timeout, Timeout),
    (rex.ConnectionError, ConnectionError),
    (rex.ChunkedEncodingError, ChunkedEncodingError),
    (rex.ContentDecodingError, ContentDecodingError),
    (rex.HTTPError, HTTPError),
    (rex.TooManyRedirects, TooManyRedirects),
    (rex.InvalidURL, InvalidURL),
)

# when the original is not a requests exception, pick by taxonomy
_BY_TYPE_PREFIX: tuple[tuple[str, type[RequestError]], ...] = (
    ("timeout.deadline", DeadlineExceeded),
    ("timeout.pool", PoolTimeout),
    ("timeout.connect", ConnectTimeout),
    ("timeout.read", ReadTimeout),
    ("tls.", SSLError),
    ("connection.", ConnectionError),
)


def describe(failure: Failure) -> str:
    """The one-line message soapguard exceptions carry."""
    return headline(
        failure.type, failure.origin, failure.phase, failure.request_sent, failure.message
    )


def headline(
    error_type: str | None,
    origin: str | None,
    phase: str | None,
    request_sent: str | None,
    message: str | None,
) -> str:
    """``tls.bad_record_mac (local) during wait, request_sent=full: message``: how every
    soapguard message and command names a failure."""
    text = error_type or "unclassified"
    text += f" ({origin})" if origin else ""
    text += f" during {phase}" if phase else ""
    text += f", request_sent={request_sent}" if request_sent else ""
    return f"{text}: {message}" if message else text


def outcome_note(decision_reason: str | None) -> str:
    """The sentence a failed call's message ends with when its outcome is unknown."""
    if decision_reason == "not_idempotent":
        return (
            "outcome unknown: the request may have reached the server and run there; it was "
            "not retried because the operation is not declared idempotent"
        )
    return "outcome unknown: the request may have reached the server and run there"


def with_outcome(exc: BaseException, note: str) -> None:
    """Append ``note`` to ``exc``'s message (its ``args``, and zeep's ``.message``)."""
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]}; {note}", *exc.args[1:])
    elif not exc.args:
        exc.args = (note,)
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        with contextlib.suppress(AttributeError):
            exc.message = f"{message}; {note}"  # type: ignore[attr-defined]


def error_for(failure: Failure, original: BaseException) -> RequestError:
    """Build the soapguard exception for ``failure``, of the family ``original`` belongs to.

    The class follows the classification (``tls.*`` is an ``SSLError``, ``timeout.connect``
    a ``ConnectTimeout``...) wherever that class is the one bare zeep would have raised or
    a subclass of it, so existing ``except`` clauses keep working: a ``tls.unexpected_eof``
    that requests reports as a ``ConnectionError`` is raised as ``SSLError`` (also a
    ``ConnectionError``), but a ``connection.reset`` that arrived as ``requests``'
    ``SSLError`` stays one.  Code that branches on the failure reads
    ``.report["error.type"]``, which is always exact.
    """
    cls: type[RequestError] = RequestError
    implied = next((sg for p, sg in _BY_TYPE_PREFIX if failure.type.startswith(p)), RequestError)
    if failure.type == "timeout.deadline":
        cls = DeadlineExceeded
    elif failure.type == "circuit.open":
        cls = CircuitOpenError
    elif isinstance(original, rex.RequestException):
        cls = next((sg for rq, sg in _BY_REQUESTS_CLASS if isinstance(original, rq)), RequestError)
        if issubclass(implied, cls):  # narrower, so every except clause still matches
            cls = implied
    else:
        cls = implied
    err = cls(describe(failure))
    err.failure = failure
    if isinstance(original, rex.RequestException):
        err.request = original.request
        err.response = original.response
    return err
