"""``soapguard.Client``: the drop-in ``zeep.Client``.

It takes every ``zeep.Client`` argument with the same meaning, plus the keyword-only
``config``.  Without a ``transport`` it builds a :class:`soapguard.Transport`; a
user's own transport is accepted and left alone (calls then behave exactly as with
zeep: no retries, no events, since soapguard cannot observe how far a request got on a
transport it does not own).

Every operation call (``client.service.X(...)``, ``bind(...)``,
``create_service(...)``) goes through one :class:`GuardedOperationProxy`, which runs
it in the attempt loop.  Each attempt re-enters zeep's own ``binding.send``, so the
envelope is rebuilt (fresh WS-Security nonce/timestamp) and plugins run again; zeep
is given a view of the client whose transport is bound to that one attempt, which is
how the attempt reaches the transport explicitly.
"""

from __future__ import annotations

from typing import Any

import zeep
from zeep.proxy import OperationProxy, ServiceProxy

from .. import _compat
from ..config import Config
from ..diagnostics.logs import install_log_redaction
from ..diagnostics.redact import redact_url
from ..diagnostics.secrets import SecretScope, guarded, session_secrets
from ..errors import error_for
from ..retry.identity import call_identity, is_idempotent
from ..retry.loop import Runner
from ..transport.evidence import Attempt, CallContext
from ..transport.sync import Transport
from .identity import MessageIdentity

__all__ = ["Client", "GuardedOperationProxy", "GuardedServiceProxy"]


class _AttemptClient:
    """The client as zeep's binding sees it during one attempt.

    The same client in every respect but ``transport``, which is bound to the attempt,
    and ``plugins``, which end with the call's :class:`MessageIdentity`.
    """

    __slots__ = ("_client", "plugins", "transport")

    def __init__(self, client: zeep.Client, transport: Any, plugins: list[Any]) -> None:
        self._client = client
        self.transport = transport
        self.plugins = plugins

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class GuardedOperationProxy(OperationProxy):
    # zeep's OperationProxy whose calls run in soapguard's attempt loop.  (No class
    # docstring: zeep's ``__doc__`` is a property returning the operation signature.)

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        return _compat.operation_doc(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        client, binding, options, name = _compat.operation_target(self)
        transport = client.transport
        runner: Runner | None = getattr(client, "runner", None)
        if runner is None or not isinstance(transport, Transport):
            return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]
        headers = _compat.merge_soap_headers(self, kwargs.get("_soapheaders"))
        if headers:
            kwargs["_soapheaders"] = headers
        primary = str(options.get("address", ""))
        key, message_id = call_identity()
        ctx = CallContext(
            service=self._proxy._sg_service,
            method=name,
            url=primary,
            idempotent=is_idempotent(client.config, name),
            max_attempts=client.config.max_attempts,
            endpoints=(primary, *client.config.failover_addresses),
            idempotency_key=key,
            message_id=message_id,
            secrets=client.secrets,
        )

        def send(attempt: Attempt) -> Any:
            plugins = [*client.plugins, MessageIdentity(message_id)]
            view = _AttemptClient(client, transport.bound(attempt), plugins)
            return binding.send(view, {**options, "address": attempt.endpoint}, name, args, kwargs)

        return runner.run(ctx, send)


class GuardedServiceProxy(ServiceProxy):
    """zeep's ``ServiceProxy`` handing out :class:`GuardedOperationProxy` objects."""

    def __init__(
        self, client: zeep.Client, binding: Any, service_name: str | None = None, **options: Any
    ) -> None:
        super().__init__(client, binding, **options)  # type: ignore[no-untyped-call]
        self._sg_service = service_name or _local_name(getattr(binding, "name", None))
        operations = _compat.binding_operations(self)
        for name in operations:
            operations[name] = GuardedOperationProxy(self, name)  # type: ignore[no-untyped-call]


class Client(zeep.Client):
    """A ``zeep.Client`` that hardens TLS, classifies failures and retries safely."""

    def __init__(
        self,
        wsdl: Any,
        wsse: Any = None,
        transport: Any = None,
        service_name: str | None = None,
        port_name: str | None = None,
        plugins: Any = None,
        settings: Any = None,
        *,
        config: Config | None = None,
    ) -> None:
        if config is None:
            config = transport.config if isinstance(transport, Transport) else Config.from_env()
        self.config = config
        if transport is None:
            transport = Transport(config=config)
        #: the attempt loop of this client's calls (None: a transport soapguard does not own)
        self.runner: Runner | None = None
        if isinstance(transport, Transport):
            self.runner = Runner(config, error_for=error_for, release=transport.release)
        self.secrets = _client_scope(self, config, transport, wsdl)
        install_log_redaction()  # inert outside soapguard calls
        with guarded(self.secrets):  # loading the WSDL: a failure is scrubbed before it propagates
            super().__init__(  # type: ignore[no-untyped-call]
                wsdl,
                wsse=wsse,
                transport=transport,
                service_name=service_name,
                port_name=port_name,
                plugins=plugins,
                settings=settings,
            )

    def circuit_state(self) -> dict[str, dict[str, Any]]:
        """The circuit breaker of every endpoint this client has called, by endpoint URL.

        ``{url: {"state": "closed"|"open"|"half_open", "retry_after_s": float|None,
        "calls": int, "failures": int}}``; credentials in URLs are masked.
        """
        if self.runner is None:
            return {}
        return {
            redact_url(url): {
                "state": snap.state,
                "retry_after_s": snap.retry_after_s,
                "calls": snap.calls,
                "failures": snap.failures,
            }
            for url, snap in self.runner.breakers.snapshot().items()
        }

    def is_idempotent(self, operation: str) -> bool:
        """Whether a call to ``operation`` may be replayed (``soapguard.idempotent()`` wins)."""
        return is_idempotent(self.config, operation)

    def bind(self, service_name: str | None = None, port_name: str | None = None) -> Any:
        if not self.wsdl.services:
            return None
        service, port = _compat.resolve_port(self, service_name, port_name)
        self.secrets.add_url(port.binding_options.get("address"))
        return GuardedServiceProxy(
            self, port.binding, service_name=_local_name(service.name), **port.binding_options
        )

    def create_service(self, binding_name: str, address: str) -> Any:
        self.secrets.add_url(address)
        proxy: Any = super().create_service(binding_name, address)  # type: ignore[no-untyped-call]
        _, binding, options, _ = _compat.service_target(proxy)
        return GuardedServiceProxy(self, binding, **options)


def _local_name(name: Any) -> str | None:
    if name is None:
        return None
    text = str(name)
    return text.rsplit("}", 1)[-1] if "}" in text else text


def _client_scope(client: Client, config: Config, transport: Any, wsdl: Any) -> SecretScope:
    """The client's secrets: WS-Security passwords, URL credentials, its transport's secrets."""
    if isinstance(transport, Transport):
        scope = SecretScope(config.sensitive_elements, parent=transport.secrets)
    else:  # a user's transport: still read what its session holds, if it has one
        scope = SecretScope(config.sensitive_elements)
        session = getattr(transport, "session", None)
        if session is not None:
            scope.add_source(lambda: session_secrets(session))
    scope.add_source(lambda: _wsse_secrets(getattr(client, "wsse", None)))
    scope.add_url(wsdl)
    return scope


def _wsse_secrets(wsse: Any, depth: int = 0) -> list[str]:
    """Secret values of WS-Security objects: passwords, password digests, key passwords."""
    items = wsse if isinstance(wsse, list | tuple) else [wsse]
    found: list[str] = []
    for item in items:
        if item is None:
            continue
        nested = getattr(item, "wsse_objects", None)  # zeep.wsse.Compose
        if isinstance(nested, list | tuple) and depth < 4:
            found += _wsse_secrets(nested, depth + 1)
        for name in ("password", "password_digest"):
            secret = getattr(item, name, None)
            if isinstance(secret, bytes):
                secret = secret.decode("utf-8", "replace")
            if isinstance(secret, str) and secret:
                found.append(secret)
    return found
