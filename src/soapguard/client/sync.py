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
from ..errors import error_for
from ..retry.loop import Runner
from ..transport.evidence import Attempt
from ..transport.sync import Transport
from ._base import GuardedClient
from ._proxy import (
    AttemptClient,
    call_context,
    guard_operations,
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


class Client(GuardedClient, zeep.Client):
    """A ``zeep.Client`` that hardens TLS, classifies failures and retries safely."""

    service_proxy_class = GuardedServiceProxy

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
        if transport is None:
            transport = Transport(config=config)
        own = transport if isinstance(transport, Transport) else None
        self._set_up(
            wsdl,
            transport,
            config,
            Runner(config, error_for=error_for, release=own.release) if own is not None else None,
            own.secrets if own is not None else None,
            {"wsse": wsse, "service_name": service_name, "port_name": port_name,
             "plugins": plugins, "settings": settings},
        )  # fmt: skip
