"""What the sync and async clients share: a call's context, the per-attempt client view,
the guarded operation table, and the client's secret scope.

The two clients differ only where zeep does (``binding.send`` or ``await
binding.send_async``) and in the error family their runner raises; everything a call
needs before its first attempt is built here, once for both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _compat
from ..config import Config
from ..diagnostics.secrets import SecretScope, session_secrets
from ..retry.identity import call_identity, is_idempotent
from ..transport.evidence import CallContext
from .identity import MessageIdentity

__all__ = ["AttemptClient", "call_context", "client_scope", "guard_operations", "local_name"]


class AttemptClient:
    """The client as zeep's binding sees it during one attempt.

    The same client in every respect but ``transport``, which is bound to the attempt,
    and ``plugins``, which end with the call's :class:`MessageIdentity`.
    """

    __slots__ = ("_client", "plugins", "transport")

    def __init__(self, client: Any, transport: Any, message_id: str | None) -> None:
        self._client = client
        self.transport = transport
        self.plugins = (
            [*client.plugins, MessageIdentity(message_id)] if message_id else client.plugins
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def call_context(
    operation: Any, client: Any, options: dict[str, Any], name: str, kwargs: dict[str, Any]
) -> CallContext:
    """The context of one call of ``operation``; merges the client's default SOAP headers
    into ``kwargs`` as zeep does."""
    headers = _compat.merge_soap_headers(operation, kwargs.get("_soapheaders"))
    if headers:
        kwargs["_soapheaders"] = headers
    config: Config = client.config
    primary = str(options.get("address", ""))
    key, message_id = call_identity()
    return CallContext(
        service=operation._proxy._sg_service,
        method=name,
        url=primary,
        idempotent=is_idempotent(config, name),
        max_attempts=config.max_attempts,
        endpoints=(primary, *config.failover_addresses),
        idempotency_key=key,
        message_id=message_id,
        secrets=client.secrets,
    )


def guard_operations(
    service: Any, binding: Any, service_name: str | None, factory: Callable[..., Any]
) -> None:
    """Replace a zeep ServiceProxy's operation proxies with ``factory(service, name)``."""
    service._sg_service = service_name or local_name(getattr(binding, "name", None))
    operations = _compat.binding_operations(service)
    for name in operations:
        operations[name] = factory(service, name)


def local_name(name: Any) -> str | None:
    if name is None:
        return None
    text = str(name)
    return text.rsplit("}", 1)[-1] if "}" in text else text


def client_scope(
    client: Any, config: Config, transport: Any, wsdl: Any, owned: SecretScope | None
) -> SecretScope:
    """The client's secrets: WS-Security passwords, URL credentials, its transport's secrets.

    ``owned`` is the scope of a soapguard transport; a user's transport is still read for
    what its session holds, if it has one.
    """
    if owned is not None:
        scope = SecretScope(config.sensitive_elements, parent=owned)
    else:
        scope = SecretScope(config.sensitive_elements)
        session = getattr(transport, "session", None)
        if session is not None:
            scope.add_source(lambda: session_secrets(session))
    scope.add_source(lambda: wsse_secrets(getattr(client, "wsse", None)))
    scope.add_url(wsdl)
    return scope


def wsse_secrets(wsse: Any, depth: int = 0) -> list[str]:
    """Secret values of WS-Security objects: passwords, password digests, key passwords."""
    items = wsse if isinstance(wsse, list | tuple) else [wsse]
    found: list[str] = []
    for item in items:
        if item is None:
            continue
        nested = getattr(item, "wsse_objects", None)  # zeep.wsse.Compose
        if isinstance(nested, list | tuple) and depth < 4:
            found += wsse_secrets(nested, depth + 1)
        for name in ("password", "password_digest"):
            secret = getattr(item, name, None)
            if isinstance(secret, bytes):
                secret = secret.decode("utf-8", "replace")
            if isinstance(secret, str) and secret:
                found.append(secret)
    return found
