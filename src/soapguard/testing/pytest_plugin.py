"""pytest plugin: the ``soap_fault_proxy`` fixture, a FaultProxy in front of your server.

Registered under the ``pytest11`` entry point ``soapguard``, so it is loaded
into every pytest run once soapguard is installed.  It therefore does nothing
until a test asks for the fixture: the proxy module is imported on first use.

.. code-block:: python

    from . import Fault

    def test_balance_survives_a_bad_record_mac(soap_fault_proxy, my_tls_server):
        proxy = soap_fault_proxy(("127.0.0.1", my_tls_server.port))  # or "127.0.0.1:8443"
        proxy.add_fault(Fault.flip_response_record(n=1))
        client = soapguard.Client(wsdl, config=soapguard.Config(idempotent_operations=("Get*",)))
        service = client.create_service(BINDING, f"https://127.0.0.1:{proxy.port}/svc")
        assert service.GetBalance(account="42")
        assert proxy.stats().connections == 2   # retried on a fresh connection

Every proxy the factory started is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from . import FaultProxy

__all__ = ["parse_upstream", "soap_fault_proxy"]

Upstream = tuple[str, int] | str


def parse_upstream(upstream: Upstream) -> tuple[str, int]:
    """``("host", port)``, ``"host:port"`` or ``"[v6]:port"`` -> ``(host, port)``."""
    if isinstance(upstream, str):
        name, sep, digits = upstream.rpartition(":")
        name = name[1:-1] if name.startswith("[") and name.endswith("]") else name
        if not sep or not name or not digits.isdigit():
            raise ValueError(f"upstream must be 'host:port', got {upstream!r}")
        return name, int(digits)
    host, port = upstream
    if not isinstance(host, str) or isinstance(port, bool) or not isinstance(port, int):
        raise ValueError(f"upstream must be (host, port), got {upstream!r}")
    return host, port


@pytest.fixture
def soap_fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """Factory: ``soap_fault_proxy(upstream, **options)`` returns a started FaultProxy.

    ``upstream`` is ``(host, port)`` or ``"host:port"``.  ``options`` go to
    :class:`~soapguard.testing.FaultProxy` (``lifetime``, ``max_connections``,
    ``listen``...); it listens on an ephemeral 127.0.0.1 port by default.
    """
    from . import FaultProxy

    started: list[FaultProxy] = []

    def make(upstream: Upstream, **options: Any) -> FaultProxy:
        proxy = FaultProxy(parse_upstream(upstream), **options)
        started.append(proxy)
        return proxy.start()

    yield make
    for proxy in reversed(started):
        proxy.stop()
