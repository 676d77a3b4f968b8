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
from ..diagnostics.secrets import guarded
from ..errors import error_for
from ..retry.identity import is_idempotent
from ..retry.loop import Runner
from ..transport.evidence import Attempt
from ..transport.sync import Transport
from ._proxy import (
    AttemptClient,
    call_context,
    circuit_state,
    client_scope,
    guard_operations,
    local_name,
)

__all__ = ["Client", "GuardedOperationProxy", "GuardedServiceProxy"]


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
        ctx = call_context(self, client, options, name, kwargs)

        def send(attempt: Attempt) -> Any:
            view = AttemptClient(client, transport.bound(attempt), ctx.message_id)
            return binding.send(view, {**options, "address": attempt.endpoint}, name, args, kwargs)

        return runner.run(ctx, send)


class GuardedServiceProxy(ServiceProxy):
    """zeep's ``ServiceProxy`` handing out :class:`GuardedOperationProxy` objects."""

    def __init__(
        self, client: zeep.Client, binding: Any, service_name: str | None = None, **options: Any
    ) -> None:
        super().__init__(client, binding, **options)  # type: ignore[no-untyped-call]
        guard_operations(self, binding, service_name, GuardedOperationProxy)


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
        owned = transport.secrets if isinstance(transport, Transport) else None
        self.secrets = client_scope(self, config, transport, wsdl, owned)
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
        return circuit_state(self.runner)

    def is_idempotent(self, operation: str) -> bool:
        """Whether a call to ``operation`` may be replayed (``soapguard.idempotent()`` wins)."""
        return is_idempotent(self.config, operation)

    def bind(self, service_name: str | None = None, port_name: str | None = None) -> Any:
        if not self.wsdl.services:
            return None
        service, port = _compat.resolve_port(self, service_name, port_name)
        self.secrets.add_url(port.binding_options.get("address"))
        return GuardedServiceProxy(
            self, port.binding, service_name=local_name(service.name), **port.binding_options
        )

    def create_service(self, binding_name: str, address: str) -> Any:
        self.secrets.add_url(address)
        proxy: Any = super().create_service(binding_name, address)  # type: ignore[no-untyped-call]
        _, binding, options, _ = _compat.service_target(proxy)
        return GuardedServiceProxy(self, binding, **options)
