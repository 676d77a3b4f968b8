"""Every private attribute of zeep, requests, urllib3 and CPython that soapguard touches.

soapguard hardens connections it does not create itself (requests and urllib3 make
them) and runs calls through zeep's own code.  Where a public hook is missing it uses
a private one; each is listed in :data:`PRIVATE_ATTRIBUTES` (with why it is needed),
and ``tests/unit/test_compat.py`` checks that every one exists on the installed
versions -- CI runs it against the newest *and* the minimum declared versions.

:func:`check_dependencies` runs when a client is built: it proves that requests really
hands urllib3 the SSL context soapguard builds (requests before 2.32.3 silently
replaces it with its own on every request, which would leave profiles, the CA bundle
and record caps unapplied), and raises :class:`DependencyError` naming the package and
the version needed instead of running unhardened in silence.

The zeep accessors below are the only code that reads zeep's private attributes.
"""

from __future__ import annotations

import _ssl
import functools
import importlib
import ssl
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from .errors import SoapGuardError

__all__ = [
    "PRIVATE_ATTRIBUTES",
    "DependencyError",
    "Private",
    "check_dependencies",
    "missing_private_attributes",
]

#: the oldest requests whose adapter hands urllib3 the SSL context an adapter chooses
REQUESTS_MIN = "2.32.3"


class DependencyError(SoapGuardError, ImportError):
    """An installed dependency would make soapguard bypass its own hardening."""


@dataclass(frozen=True)
class Private:
    """One private attribute: ``module:Owner.name`` and why soapguard needs it."""

    module: str
    owner: str
    name: str
    why: str
    #: set on instances (in ``__init__``), so only a real instance can show it
    instance: bool = False
    #: the optional extra that needs it (``"async"``: httpx/httpcore), checked only when used
    extra: str = ""

    @property
    def qualname(self) -> str:
        return ".".join(filter(None, (self.module, self.owner, self.name)))

    def present(self, sample: object = None) -> bool:
        """Whether it exists on the installed version (on ``sample``, for an instance one)."""
        if self.instance:
            return sample is not None and hasattr(sample, self.name)
        try:
            obj: Any = importlib.import_module(self.module)
        except ImportError:
            return False
        for part in filter(None, (*self.owner.split("."), self.name)):
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True


def _p(
    module: str, owner: str, name: str, why: str, *, instance: bool = False, extra: str = ""
) -> Private:
    return Private(module, owner, name, why, instance, extra)


PRIVATE_ATTRIBUTES: tuple[Private, ...] = (
    # zeep: each attempt runs through zeep's own binding code
    _p("zeep.proxy", "OperationProxy", "_proxy", "an operation's service", instance=True),
    _p("zeep.proxy", "OperationProxy", "_op_name", "an operation's name", instance=True),
    _p("zeep.proxy", "OperationProxy", "_merge_soap_headers", "merge SOAP headers as zeep does"),
    _p("zeep.proxy", "ServiceProxy", "_client", "the client a call runs for", instance=True),
    _p("zeep.proxy", "ServiceProxy", "_binding", "the binding that sends a call", instance=True),
    _p("zeep.proxy", "ServiceProxy", "_binding_options", "a call's address", instance=True),
    _p("zeep.proxy", "ServiceProxy", "_operations", "operations to guard", instance=True),
    _p("zeep.client", "Client", "_get_service", "resolve a service for bind()"),
    _p("zeep.client", "Client", "_get_port", "resolve a port for bind()"),
    # requests
    _p(
        "requests.adapters",
        "HTTPAdapter",
        "build_connection_pool_key_attributes",
        "hand urllib3 soapguard's SSL context instead of requests' own",
    ),
    _p(
        "requests.models",
        "PreparedRequest",
        "_cookies",
        "a request prepared without Session.request() needs its cookie jar",
        instance=True,
    ),
    # urllib3
    _p("urllib3.connection", "HTTPConnection", "_new_conn", "see when TCP connects, to whom"),
    _p(
        "urllib3.connectionpool",
        "HTTPConnectionPool",
        "_put_conn",
        "stamp a connection idle when it comes back to its pool, retire it if too old",
    ),
    _p(
        "urllib3.poolmanager",
        "PoolManager",
        "pool_classes_by_scheme",
        "use the instrumented pool classes",
        instance=True,
    ),
    # CPython
    _p("ssl", "SSLContext", "_msg_callback", "trace TLS record sizes and alerts"),
    _p("ssl", "", "_TLSContentType", "read record headers in the tracer"),
    _p("_ssl", "", "_SSLContext", "find the SSL_CTX* behind a context (record caps)"),
    _p("_ssl", "", "_SSLSocket", "find the SSL* behind a socket (negotiated record cap)"),
    # httpx / httpcore: the async client (the "async" extra)
    _p("httpx", "AsyncClient", "_transport", "mount soapguard's transport on a user's client",
       instance=True, extra="async"),
    _p("httpx", "AsyncClient", "_mounts", "refuse (or instrument) mounted transports",
       instance=True, extra="async"),
    _p("httpx", "AsyncClient", "_transport_for_url", "hand a plain request to its transport",
       extra="async"),
    _p("httpx", "AsyncHTTPTransport", "_pool", "reach the httpcore pool to instrument it",
       instance=True, extra="async"),
    _p("httpcore", "AsyncConnectionPool", "_network_backend",
       "give new connections soapguard's instrumented network streams", instance=True,
       extra="async"),
    _p("httpcore", "AsyncConnectionPool", "_ssl_context",
       "prove httpx handed httpcore soapguard's SSL context", instance=True, extra="async"),
    # CPython 3.10-3.12: the verified chain (public as SSLSocket.get_verified_chain from 3.13)
    _p("_ssl", "_SSLSocket", "get_verified_chain", "check pinned keys before 3.13"),
    _p("_ssl", "Certificate", "public_bytes", "a verified chain's certificates as DER"),
    _p("ssl", "SSLObject", "_sslobj", "the _ssl object behind a socket", instance=True),
)  # fmt: skip


def missing_private_attributes(extra: str = "") -> list[Private]:
    """The listed class-level private attributes that do not exist on this installation.

    ``extra`` selects the entries of one optional extra (``"async"``) instead of the
    core ones.  Instance attributes need a real instance; ``tests/unit/test_compat.py``
    checks those.
    """
    return [
        item
        for item in PRIVATE_ATTRIBUTES
        if item.extra == extra and not item.instance and not item.present()
    ]


# -- zeep accessors --------------------------------------------------------------------------


def service_target(service: Any) -> tuple[Any, Any, dict[str, Any], Any]:
    """``(client, binding, binding_options, service)`` of a zeep ServiceProxy."""
    return service._client, service._binding, service._binding_options, service


def operation_target(operation: Any) -> tuple[Any, Any, dict[str, Any], str]:
    """``(client, binding, binding_options, operation_name)`` of a zeep OperationProxy."""
    client, binding, options, _ = service_target(operation._proxy)
    return client, binding, options, operation._op_name


def merge_soap_headers(operation: Any, headers: Any) -> Any:
    """The SOAP headers of one call: the client's defaults merged with ``headers``."""
    return operation._merge_soap_headers(headers)


def binding_operations(service: Any) -> dict[str, Any]:
    """The operation proxies of a zeep ServiceProxy, by name (mutable)."""
    operations: dict[str, Any] = service._operations
    return operations


def resolve_port(client: Any, service_name: str | None, port_name: str | None) -> tuple[Any, Any]:
    """``(service, port)`` as ``zeep.Client.bind`` resolves them."""
    service = client._get_service(service_name)
    return service, client._get_port(service, port_name)


def operation_doc(operation: Any) -> str:
    """What zeep's OperationProxy.__doc__ returns: the operation's signature."""
    return str(operation._proxy._binding._operations[operation._op_name])


def zeep_refusals() -> tuple[type[BaseException], ...]:
    """zeep's exceptions for a response refused on its XML safety settings.

    ``ExternalReferenceForbidden`` appeared in zeep 4.3.3; older versions raise the
    others only.
    """
    import zeep.exceptions as zx

    names = ("DTDForbidden", "EntitiesForbidden", "ExternalReferenceForbidden")
    return tuple(cls for name in names if isinstance(cls := getattr(zx, name, None), type))


# -- CPython accessors -----------------------------------------------------------------------


def verified_chain(tls: ssl.SSLSocket | ssl.SSLObject) -> list[bytes]:
    """The DER certificates of the chain OpenSSL verified for ``tls``, leaf first.

    Public API from Python 3.13; on 3.10-3.12 the private ``_sslobj`` method that
    3.13 made public.  Empty when nothing was verified (or the connection is closed).
    """
    if sys.version_info >= (3, 13):
        return [bytes(der) for der in tls.get_verified_chain() or ()]
    inner: Any = getattr(tls, "_sslobj", None)
    if inner is None:
        return []
    return [cert.public_bytes(_ssl.ENCODING_DER) for cert in inner.get_verified_chain() or ()]


# -- dependency check ------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def _requests_honours_adapter_context() -> bool:
    """Whether requests builds a pool with the SSL context the adapter chooses.

    A dry run: an adapter that chooses a marker context asks requests for the pool of a
    name that is never resolved; no connection is made.
    """
    import ssl

    import requests
    from requests.adapters import HTTPAdapter

    marker = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    class _Probe(HTTPAdapter):
        def build_connection_pool_key_attributes(
            self, request: requests.PreparedRequest, verify: Any, cert: Any = None
        ) -> Any:
            host, _ = super().build_connection_pool_key_attributes(request, verify, cert)
            return host, {"ssl_context": marker}

    probe = _Probe()
    try:
        request = requests.Request("POST", "https://soapguard-probe.invalid/").prepare()
        pool: Any = probe.get_connection_with_tls_context(request, verify=True)
        return pool.conn_kw.get("ssl_context") is marker
    except Exception:
        return False
    finally:
        probe.close()


def check_async_pool(pool: Any, ssl_context: Any) -> None:
    """Raise :class:`DependencyError` unless ``pool`` (an httpx transport's httpcore pool)
    uses ``ssl_context`` and can be instrumented: the async client never runs unhardened
    in silence either."""
    missing = missing_private_attributes("async")
    if missing or getattr(pool, "_ssl_context", None) is not ssl_context:
        names = ", ".join(item.qualname for item in missing) or "its SSL context"
        raise DependencyError(
            f"soapguard.AsyncTransport cannot harden httpx {_version('httpx')} / httpcore "
            f"{_version('httpcore')} (missing {names}); soapguard's async extra needs "
            f"httpx >= 0.26, < 0.29"
        )


#: the attribute list found complete (installed classes do not lose attributes)
_complete: tuple[Private, ...] | None = None


def check_dependencies() -> None:
    """Raise :class:`DependencyError` if an installed dependency would bypass soapguard.

    Both checks are made once per process (the attribute list, once it was found
    complete), not for every transport built.
    """
    global _complete
    if not _requests_honours_adapter_context():
        raise DependencyError(
            f"requests {_version('requests')} replaces the SSL context an adapter chooses, "
            f"so soapguard's TLS settings would not apply; soapguard needs requests >= "
            f"{REQUESTS_MIN}"
        )
    if _complete is PRIVATE_ATTRIBUTES:
        return
    missing = missing_private_attributes()
    if missing:
        names = ", ".join(
            f"{item.qualname} ({item.module.split('.')[0]} {_version(item.module.split('.')[0])})"
            for item in missing
        )
        raise DependencyError(f"soapguard cannot run on this installation: missing {names}")
    _complete = PRIVATE_ATTRIBUTES
