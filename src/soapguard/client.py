"""``soapguard.Client``: the drop-in ``zeep.Client``.

It takes every ``zeep.Client`` argument with the same meaning, plus the
keyword-only ``config``.  Without a ``transport`` it builds a
:class:`soapguard.Transport`; a user's own transport is accepted and left
alone (calls then behave exactly as with zeep: no retries, no events, since
soapguard cannot observe how far a request got on a transport it does not
own).

Every operation call (``client.service.X(...)``, ``bind(...)``,
``create_service(...)``) goes through one :class:`GuardedOperationProxy`, which
runs it under :class:`soapguard._call.CallRunner`: each attempt re-enters
zeep's own call path, so the envelope is rebuilt (fresh WS-Security
nonce/timestamp) and plugins run again.
"""

from __future__ import annotations

from typing import Any

import zeep
from zeep.proxy import OperationProxy, ServiceProxy

from ._call import CallRunner
from .config import Config
from .diagnostics import CallContext
from .logredact import install_log_redaction
from .retry import is_idempotent
from .secretscope import SecretScope, guarded, session_secrets
from .transport import Transport

__all__ = ["Client", "GuardedOperationProxy", "GuardedServiceProxy"]


class GuardedOperationProxy(OperationProxy):
    # zeep's OperationProxy whose calls run under soapguard's retry rules.  (No class
    # docstring: zeep's ``__doc__`` is a property returning the operation signature.)

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        return str(self._proxy._binding._operations[self._op_name])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        proxy: GuardedServiceProxy = self._proxy
        client = proxy._client
        runner: CallRunner | None = getattr(client, "_sg_runner", None)
        call: Any = super().__call__
        if runner is None:
            return call(*args, **kwargs)
        ctx = CallContext(
            service=proxy._sg_service,
            method=self._op_name,
            url=str(proxy._binding_options.get("address", "")),
            idempotent=client.is_idempotent(self._op_name),
            max_attempts=client.config.max_attempts,
            secrets=client.secrets,
        )
        return runner.run(lambda: call(*args, **kwargs), ctx)


class GuardedServiceProxy(ServiceProxy):
    """zeep's ``ServiceProxy`` handing out :class:`GuardedOperationProxy` objects."""

    def __init__(
        self, client: zeep.Client, binding: Any, service_name: str | None = None, **options: Any
    ) -> None:
        super().__init__(client, binding, **options)  # type: ignore[no-untyped-call]
        self._sg_service = service_name or _local_name(getattr(binding, "name", None))
        self._operations = {
            name: GuardedOperationProxy(self, name)  # type: ignore[no-untyped-call]
            for name in self._operations
        }


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
        self._sg_runner: CallRunner | None = None
        if isinstance(transport, Transport):
            self._sg_runner = (
                transport.runner
                if transport.config is config
                else CallRunner(config, drop_connections=transport.adapter.drop_host)
            )
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

    def is_idempotent(self, operation: str) -> bool:
        """Whether a call to ``operation`` may be replayed (``soapguard.idempotent()`` wins)."""
        return is_idempotent(self.config, operation)

    def bind(self, service_name: str | None = None, port_name: str | None = None) -> Any:
        if not self.wsdl.services:
            return None
        service: Any = self._get_service(service_name)
        port: Any = self._get_port(service, port_name)  # type: ignore[no-untyped-call]
        self.secrets.add_url(port.binding_options.get("address"))
        return GuardedServiceProxy(
            self, port.binding, service_name=_local_name(service.name), **port.binding_options
        )

    def create_service(self, binding_name: str, address: str) -> Any:
        self.secrets.add_url(address)
        proxy: Any = super().create_service(binding_name, address)  # type: ignore[no-untyped-call]
        return GuardedServiceProxy(self, proxy._binding, **proxy._binding_options)


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
