"""The private attributes soapguard relies on exist, and a bypassing dependency is refused."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

import soapguard
from soapguard import _compat
from soapguard.config import Config


@pytest.fixture(scope="module")
def samples() -> dict[str, object]:
    """Real instances of the classes whose private instance attributes soapguard reads."""
    import httpcore
    import httpx
    import urllib3
    import zeep

    from soapguard.testing.ledger import wsdl_dir

    client = zeep.Client(str(wsdl_dir() / "ledger.wsdl"))
    service = client.service
    tls_client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return {
        "OperationProxy": service["GetBalance"],
        "ServiceProxy": service,
        "PreparedRequest": requests.Request("POST", "https://x.invalid/").prepare(),
        "PoolManager": urllib3.PoolManager(),
        "AsyncClient": httpx.AsyncClient(),
        "AsyncHTTPTransport": httpx.AsyncHTTPTransport(),
        "AsyncConnectionPool": httpcore.AsyncConnectionPool(),
        "SSLObject": tls_client.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="x"),
    }


@pytest.mark.parametrize("item", _compat.PRIVATE_ATTRIBUTES, ids=lambda item: item.qualname)
def test_every_private_attribute_soapguard_touches_exists(
    item: _compat.Private, samples: dict[str, object]
) -> None:
    sample = samples.get(item.owner) if item.instance else None
    assert item.present(sample), f"{item.qualname} is gone: {item.why}"


def test_async_extra_entries_are_checked_apart_from_the_core_ones() -> None:
    """Without httpx the sync client must still build: its check ignores the async extra."""
    fake = _compat.Private("no_such_module", "", "x", "x", extra="async")
    original = _compat.PRIVATE_ATTRIBUTES
    try:
        _compat.PRIVATE_ATTRIBUTES = (*original, fake)
        assert fake not in _compat.missing_private_attributes()
        assert fake in _compat.missing_private_attributes("async")
    finally:
        _compat.PRIVATE_ATTRIBUTES = original


def test_an_httpx_pool_without_soapguards_context_is_refused() -> None:
    import ssl

    import httpcore

    pool = httpcore.AsyncConnectionPool(ssl_context=ssl.create_default_context())
    with pytest.raises(_compat.DependencyError, match="httpx"):
        _compat.check_async_pool(pool, ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    _compat.check_async_pool(pool, pool._ssl_context)  # the same context: accepted


def test_the_list_can_detect_a_missing_attribute() -> None:
    assert not _compat.Private("zeep.proxy", "OperationProxy", "_no_such_thing", "x").present()
    assert not _compat.Private("no_such_module", "", "x", "x").present()


@pytest.fixture
def requests_2_32_2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """requests 2.32.0-2.32.2: get_connection_with_tls_context ignores the adapter's choice.

    Those versions built the pool keys from their own default SSL context on every
    request, so an adapter's build_connection_pool_key_attributes was never consulted.
    """

    def get_connection_with_tls_context(
        self: HTTPAdapter,
        request: requests.PreparedRequest,
        verify: Any,
        proxies: Any = None,
        cert: Any = None,
    ) -> Any:
        host_params, pool_kwargs = HTTPAdapter.build_connection_pool_key_attributes(
            self, request, verify, cert
        )
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)

    monkeypatch.setattr(
        HTTPAdapter, "get_connection_with_tls_context", get_connection_with_tls_context
    )
    _compat._requests_honours_adapter_context.cache_clear()
    yield
    _compat._requests_honours_adapter_context.cache_clear()


def test_a_requests_that_would_bypass_the_ssl_context_is_refused(requests_2_32_2: None) -> None:
    with pytest.raises(
        _compat.DependencyError, match=r"requests .* soapguard needs requests >= 2\.32\.3"
    ):
        soapguard.Transport(config=Config())
    with pytest.raises(ImportError):
        soapguard.Client("https://soap.invalid/svc?wsdl", config=Config())


def test_the_installed_requests_honours_the_adapter_context() -> None:
    _compat._requests_honours_adapter_context.cache_clear()
    assert _compat._requests_honours_adapter_context()
    _compat.check_dependencies()


def test_the_architecture_page_lists_every_private_attribute() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    table = page.split("<!-- private-attributes")[1].split("<!-- /private-attributes -->")[0]
    listed = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert listed == {item.qualname for item in _compat.PRIVATE_ATTRIBUTES}


def test_every_module_is_in_the_architecture_module_map() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "architecture.md").read_text()
    table = doc[doc.index("## Modules") :]
    table = table[: table.index("\n## ")]
    listed = set(re.findall(r"^\| `([^`]+)` \|", table, re.M))
    package = root / "src" / "soapguard"
    missing = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else None
        if rel.endswith("/__init__.py") and rel not in listed:
            continue  # a package's public names: its modules are the entries
        if rel not in listed and (folder is None or folder not in listed):
            missing.append(rel)
    assert missing == []
    stale = sorted(m for m in listed if not (package / m).exists())
    assert stale == []
