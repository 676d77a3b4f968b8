"""Shared set-up for tests that put a FaultProxy between soapguard.Client and the ledger."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import soapguard
from soapguard import Config
from soapguard.testing import FaultProxy
from soapguard.testing.ledger import LedgerServer

BINDING = "{urn:soapguard:ledger}LedgerSoapBinding"
TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


@dataclass
class Rig:
    server: LedgerServer
    proxy: FaultProxy
    client: Any  # soapguard.Client or soapguard.AsyncClient
    service: Any  # GuardedServiceProxy pointing at the proxy

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.proxy.port}/ledger"


@contextmanager
def rig(
    make_ledger: Callable[..., LedgerServer],
    server_ssl_context: Callable[..., ssl.SSLContext],
    ca_file: str,
    tls_version: str = "1.3",
    client_class: type[Any] = soapguard.Client,
    proxy_options: dict[str, Any] | None = None,
    **config: Any,
) -> Iterator[Rig]:
    """A ledger server pinned to one TLS version, a FaultProxy in front, a client through it.

    The WSDL is loaded from the server directly, so only operation calls cross
    the proxy (and consume its queued faults).  ``client_class`` may be
    ``soapguard.AsyncClient`` (then ``service`` is awaited).  ``proxy_options`` go to
    the FaultProxy.
    """
    version = TLS_VERSIONS[tls_version]
    server = make_ledger(ssl_context=server_ssl_context(min_version=version, max_version=version))
    cfg = Config(ca_bundle=ca_file, **config)
    options = {"lifetime": 120, **(proxy_options or {})}
    with FaultProxy(upstream=("127.0.0.1", server.port), **options) as proxy:
        client = client_class(server.wsdl_url, config=cfg)
        # an IP address: "localhost" would also try ::1, where nothing listens
        service = client.create_service(BINDING, f"https://127.0.0.1:{proxy.port}/ledger")
        yield Rig(server, proxy, client, service)
