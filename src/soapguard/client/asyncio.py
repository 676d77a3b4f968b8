"""``soapguard.AsyncClient``: the drop-in ``zeep.AsyncClient``.

It takes every ``zeep.AsyncClient`` argument with the same meaning, plus the
keyword-only ``config``, and follows the sync client's contract: each operation call
(``await client.service.X(...)``) runs in the same attempt loop
(:meth:`soapguard.retry.loop.Runner.run_async`), each attempt re-enters zeep's own
``binding.send_async`` with a view of the client whose transport is bound to that
attempt, so the envelope is rebuilt and plugins run again.  Failures raise
:mod:`soapguard.async_errors` (httpx's classes, or ``ssl.SSLError``, as bare zeep
would have raised, plus :class:`~soapguard.SoapGuardError`).

Without a ``transport`` it builds a :class:`soapguard.AsyncTransport`; a user's own
transport is accepted and left alone (no retries, no events).  ``create_service``
returns an async service proxy (zeep's returns a synchronous one, which cannot work
over an async transport).

Cancellation is never retried nor swallowed: ``asyncio.CancelledError`` propagates
as it is, and the connection it interrupted is closed, not returned to the pool.
"""

from __future__ import annotations

from typing import Any

import zeep
from zeep.proxy import AsyncOperationProxy, AsyncServiceProxy

from .. import _compat, async_errors
from ..config import Config
from ..retry.loop import Runner
from ..transport.asyncio import AsyncTransport
from ..transport.evidence import Attempt
from ._base import GuardedClient
from ._proxy import (
    AttemptClient,
    call_context,
    guard_operations,
)

__all__ = ["AsyncClient", "GuardedAsyncOperationProxy", "GuardedAsyncServiceProxy"]


class GuardedAsyncOperationProxy(AsyncOperationProxy):
    # zeep's AsyncOperationProxy whose calls run in soapguard's attempt loop.  (No class
    # docstring: zeep's ``__doc__`` is a property returning the operation signature.)

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        return _compat.operation_doc(self)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        client, binding, options, name = _compat.operation_target(self)
        transport = client.transport
        runner: Runner | None = getattr(client, "runner", None)
        if runner is None or not isinstance(transport, AsyncTransport):
            return await super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]
        ctx = call_context(self, client, options, name, kwargs)

        async def send(attempt: Attempt) -> Any:
            view = AttemptClient(client, transport.bound(attempt), ctx.message_id)
            address = {**options, "address": attempt.endpoint}
            return await binding.send_async(view, address, name, args, kwargs)

        return await runner.run_async(ctx, send)


class GuardedAsyncServiceProxy(AsyncServiceProxy):
    """zeep's ``AsyncServiceProxy`` handing out :class:`GuardedAsyncOperationProxy` objects."""

    def __init__(
        self, client: Any, binding: Any, service_name: str | None = None, **options: Any
    ) -> None:
        super().__init__(client, binding, **options)  # type: ignore[no-untyped-call]
        guard_operations(self, binding, service_name, GuardedAsyncOperationProxy)


class AsyncClient(GuardedClient, zeep.AsyncClient):
    """A ``zeep.AsyncClient`` that hardens TLS, classifies failures and retries safely."""

    service_proxy_class = GuardedAsyncServiceProxy

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
            owned = isinstance(transport, AsyncTransport)
            config = transport.config if owned else Config.from_env()
        if transport is None:
            transport = AsyncTransport(config=config)
        own = transport if isinstance(transport, AsyncTransport) else None
        self._set_up(
            wsdl,
            transport,
            config,
            Runner(config, error_for=async_errors.error_for) if own is not None else None,
            own.secrets if own is not None else None,
            {"wsse": wsse, "service_name": service_name, "port_name": port_name,
             "plugins": plugins, "settings": settings},
        )  # fmt: skip
