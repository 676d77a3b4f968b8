"""What ``soapguard.Client`` and ``soapguard.AsyncClient`` add to zeep's clients, written once.

The two differ only in their transport class, their exception family and their service
proxy class; everything else (how a client is set up around zeep's constructor, its
secret scope, ``bind``/``create_service`` handing out guarded proxies, the breaker view,
the idempotency question) is here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .. import _compat
from ..config import Config
from ..diagnostics.logs import install_log_redaction
from ..diagnostics.redact import redact_url
from ..diagnostics.secrets import SecretScope, guarded
from ..retry.identity import is_idempotent
from ..retry.loop import Runner
from ._proxy import client_scope, local_name

__all__ = ["GuardedClient"]


class GuardedClient:
    """Mixin placed before ``zeep.Client`` / ``zeep.AsyncClient`` in a soapguard client."""

    #: the service proxy ``bind`` and ``create_service`` hand out
    service_proxy_class: ClassVar[type]
    config: Config
    #: the attempt loop of this client's calls (None: a transport soapguard does not own)
    runner: Runner | None
    secrets: SecretScope
    wsdl: Any

    def _set_up(
        self,
        wsdl: Any,
        transport: Any,
        config: Config,
        runner: Runner | None,
        owned: SecretScope | None,
        zeep_options: dict[str, Any],
    ) -> None:
        """The client's config, loop and secret scope, then zeep's own constructor.

        ``owned`` is the secret scope of a soapguard transport (None for a user's own).
        """
        self.config = config
        self.runner = runner
        self.secrets = client_scope(self, config, transport, wsdl, owned)
        if owned is None:  # a soapguard transport installed it already
            install_log_redaction()  # inert outside soapguard calls
        with guarded(self.secrets):  # loading the WSDL: a failure is scrubbed before it propagates
            super().__init__(wsdl, transport=transport, **zeep_options)  # type: ignore[call-arg]

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
        return self.service_proxy_class(
            self, port.binding, service_name=local_name(service.name), **port.binding_options
        )

    def create_service(self, binding_name: str, address: str) -> Any:
        self.secrets.add_url(address)
        proxy: Any = super().create_service(binding_name, address)  # type: ignore[misc]
        _, binding, options, _ = _compat.service_target(proxy)
        return self.service_proxy_class(self, binding, **options)
