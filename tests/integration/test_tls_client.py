"""TLS through soapguard.Client: refusals are classified and never retried; caps on the wire."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import requests

import soapguard
from faulty import BINDING, rig
from soapguard import Config
from soapguard.testing.ledger import LedgerServer, wsdl_dir

pytestmark = pytest.mark.timeout(60)

#: AES-CBC with static RSA key exchange: what an old mainframe stack offers
STATIC_RSA_CBC = "AES128-SHA:AES256-SHA"


def call(server: LedgerServer, config: Config) -> Any:
    """One GetBalance; the WSDL comes from disk so the handshake under test is the call's."""
    client = soapguard.Client(str(wsdl_dir() / "ledger.wsdl"), config=config)
    service = client.create_service(BINDING, server.url)
    return service.GetBalance(account="1")


def cbc_only_server(
    make_ledger: Callable[..., LedgerServer], server_ssl_context: Callable[..., ssl.SSLContext]
) -> LedgerServer:
    ctx = server_ssl_context(
        min_version=ssl.TLSVersion.TLSv1_2,
        max_version=ssl.TLSVersion.TLSv1_2,
        ciphers=STATIC_RSA_CBC,
    )
    return make_ledger(ssl_context=ctx)


def test_static_rsa_cbc_server_is_refused_by_intermediate_without_retry(
    make_ledger: Any, server_ssl_context: Any, ca_file: str
) -> None:
    server = cbc_only_server(make_ledger, server_ssl_context)
    with pytest.raises(requests.exceptions.SSLError) as info:
        call(server, Config(ca_bundle=ca_file, max_attempts=5, idempotent_operations=("*",)))
    report = info.value.report  # type: ignore[attr-defined]
    assert report["error.type"] in ("tls.handshake_failure", "tls.no_shared_cipher")
    assert report["request_sent"] == "none"
    assert report["decision_reason"] == "non_retryable"
    assert len(report["attempts"]) == 1  # deterministic: no retry, whatever the settings


def test_static_rsa_cbc_server_is_reached_by_legacy(
    make_ledger: Any, server_ssl_context: Any, ca_file: str
) -> None:
    server = cbc_only_server(make_ledger, server_ssl_context)
    assert call(server, Config(ca_bundle=ca_file, tls_profile="legacy")).account == "1"


def test_tls10_only_server_is_refused_by_default(
    make_ledger: Any, server_ssl_context: Any, ca_file: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1
        ctx = server_ssl_context(
            min_version=ssl.TLSVersion.TLSv1,
            max_version=ssl.TLSVersion.TLSv1,
            ciphers="AES128-SHA:@SECLEVEL=0",
        )
    server = make_ledger(ssl_context=ctx)
    with pytest.raises(requests.exceptions.SSLError) as info:
        call(server, Config(ca_bundle=ca_file, max_attempts=3))
    report = info.value.report  # type: ignore[attr-defined]
    assert report["error.type"] == "tls.protocol_version"
    assert len(report["attempts"]) == 1


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_record_cap_holds_on_the_wire_in_both_directions(
    make_ledger: Any, server_ssl_context: Any, ca_file: str, version: str
) -> None:
    big_account = "A" * 60_000  # a large request, so our own records are measured too
    with rig(make_ledger, server_ssl_context, ca_file, version, max_record_size=1024) as r:
        assert r.service.GetBalance(account=big_account).account == big_account
        assert len(r.service.GetStatement(account="1", lines=1000).entry) == 1000
        stats = r.proxy.stats()
    for direction in ("c2s", "s2c"):
        sizes = stats.app_data_sizes(direction)
        assert sum(sizes) > 50_000, direction  # enough data went each way to tell
        assert max(sizes) <= 1024 + 64, (direction, max(sizes))


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_without_a_cap_records_are_16k(
    make_ledger: Any, server_ssl_context: Any, ca_file: str, version: str
) -> None:
    big_account = "A" * 60_000
    with rig(make_ledger, server_ssl_context, ca_file, version) as r:
        r.service.GetBalance(account=big_account)
        stats = r.proxy.stats()
    for direction in ("c2s", "s2c"):
        assert max(stats.app_data_sizes(direction)) > 16_000, direction


def test_tls13_suite_pin_is_negotiated(ledger: LedgerServer, ca_file: str) -> None:
    config = Config(ca_bundle=ca_file, tls13_ciphersuites="TLS_CHACHA20_POLY1305_SHA256")
    client = soapguard.Client(ledger.wsdl_url, config=config)
    client.service.GetBalance(account="1")
    conn = next(iter(client.transport.adapter.poolmanager.pools.keys()))
    pool = client.transport.adapter.poolmanager.pools[conn]
    sock = pool.pool.queue[-1].sock
    assert sock.cipher()[0] == "TLS_CHACHA20_POLY1305_SHA256"
