"""Every injected fault is classified precisely through soapguard.Client (no retries)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
import zeep.exceptions

import soapguard
from faulty import rig
from soapguard import Config
from soapguard.testing import Fault
from soapguard.testing.ledger import LedgerServer

pytestmark = pytest.mark.timeout(60)

VERSIONS = ["1.2", "1.3"]


def failing_call(r: Any, fault: Fault | None, op: str = "GetBalance", **kw: Any) -> BaseException:
    if fault is not None:
        r.proxy.add_fault(fault)
    args = {"account": "42", **kw} if op != "Reject" else kw
    with pytest.raises(Exception) as info:
        getattr(r.service, op)(**args)
    return info.value


def check(exc: BaseException, **expected: Any) -> dict[str, Any]:
    report: dict[str, Any] = exc.report  # type: ignore[attr-defined]
    for key, value in expected.items():
        field = key.replace("_", ".", 1) if key.startswith("error_") else key
        assert report[field] == value, (field, report[field], report)
    assert len(report["attempts"]) == 1
    assert "Max retries exceeded" not in str(exc)
    return report


@pytest.fixture
def faulty(make_ledger: Any, server_ssl_context: Any, ca_file: str) -> Callable[..., Any]:
    def make(version: str, **cfg: Any) -> Any:
        return rig(make_ledger, server_ssl_context, ca_file, version, max_attempts=1, **cfg)

    return make


@pytest.mark.parametrize("version", VERSIONS)
def test_corrupted_response_headers(faulty: Any, version: str) -> None:
    with faulty(version) as r:
        exc = failing_call(r, Fault.flip_response_record(n=1))
        assert isinstance(exc, soapguard.SoapGuardError)
        assert isinstance(exc, requests.exceptions.SSLError)
        report = check(exc, error_type="tls.bad_record_mac", error_origin="local")
        assert report["request_sent"] == "full"
        assert report["phase"] in ("wait", "receive")
        assert report["openssl.reason"] == "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"
        assert report["tls.protocol.version"] == version  # OpenTelemetry: "1.2", not "TLSv1.2"


@pytest.mark.parametrize("version", VERSIONS)
def test_corrupted_large_body(faulty: Any, version: str) -> None:
    with faulty(version) as r:
        exc = failing_call(r, Fault.flip_response_record(n=5), op="GetStatement", lines=3000)
        report = check(
            exc, error_type="tls.bad_record_mac", error_origin="local", request_sent="full"
        )
        assert report["phase"] == "receive"
        assert report["tls.largest_record_in"] > 16000  # the big records came first


@pytest.mark.parametrize("version", VERSIONS)
def test_corrupted_request_record(faulty: Any, version: str) -> None:
    with faulty(version) as r:
        exc = failing_call(r, Fault.flip_request_record())
        report = check(exc, request_sent="full")
        # the server's bad_record_mac alert, or its reset/EOF when that wins the race
        outcome = (report["error.type"], report["error.origin"])
        assert outcome in {
            ("tls.bad_record_mac", "peer"),
            ("tls.unexpected_eof", None),
            ("connection.reset", None),
        }, outcome
        assert r.server.executions_total() == 0  # the server never decrypted it


@pytest.mark.parametrize("version", VERSIONS)
def test_corrupted_handshake(faulty: Any, version: str) -> None:
    with faulty(version) as r:
        exc = failing_call(r, Fault.corrupt_handshake())
        check(
            exc,
            error_type="tls.bad_record_mac",
            error_origin="local",
            request_sent="none",
            phase="handshake",
        )


@pytest.mark.parametrize("version", VERSIONS)
def test_reset_on_accept(faulty: Any, version: str) -> None:
    with faulty(version) as r:
        exc = failing_call(r, Fault.rst_on_accept())
        assert isinstance(exc, requests.exceptions.ConnectionError)
        report = check(exc, request_sent="none")
        # on loopback the RST can race the kernel's connect(): the client may then see
        # ECONNREFUSED instead of ECONNRESET; either way nothing was sent
        assert report["error.type"] in ("connection.reset", "connection.refused")


@pytest.mark.parametrize("version", VERSIONS)
def test_reset_after_request(faulty: Any, version: str) -> None:
    with faulty(version) as r:
        exc = failing_call(r, Fault.rst_after_request())
        check(exc, error_type="connection.reset", request_sent="full", phase="wait")


@pytest.mark.parametrize("version", VERSIONS)
def test_close_mid_body(faulty: Any, version: str) -> None:
    with faulty(version) as r:
        exc = failing_call(r, Fault.close_mid_body(after=50_000), op="GetStatement", lines=3000)
        check(exc, error_type="tls.unexpected_eof", request_sent="full", phase="receive")


@pytest.mark.parametrize("version", VERSIONS)
def test_stall_hits_the_read_timeout(faulty: Any, version: str) -> None:
    with faulty(version, read_timeout=0.5) as r:
        exc = failing_call(r, Fault.stall(seconds=3))
        assert isinstance(exc, requests.exceptions.ReadTimeout)
        check(exc, error_type="timeout.read", request_sent="full", phase="wait")


@pytest.mark.parametrize("version", VERSIONS)
def test_soap_fault(faulty: Any, version: str) -> None:
    with faulty(version) as r:
        exc = failing_call(r, None, op="Reject", reason="nope")
        assert isinstance(exc, zeep.exceptions.Fault)
        check(exc, error_type="soap.fault", request_sent="full")


def test_certificate_for_the_wrong_host(
    ca: trustme.CA, ca_file: str, tmp_path: Path, make_ledger: Callable[..., LedgerServer]
) -> None:
    leaf = ca.issue_cert("other.example")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    server = make_ledger(ssl_context=ctx)
    wsdl = Path(__file__).resolve().parents[2] / "wsdl" / "ledger.wsdl"
    client = soapguard.Client(str(wsdl), config=Config(ca_bundle=ca_file, max_attempts=1))
    service = client.create_service("{urn:soapguard:ledger}LedgerSoapBinding", server.url)
    with pytest.raises(requests.exceptions.SSLError) as info:
        service.GetBalance(account="1")
    assert isinstance(info.value, soapguard.SoapGuardError)
    check(info.value, error_type="tls.certificate", request_sent="none", phase="handshake")


def test_zeeps_transport_timeout_settings_are_honoured(faulty: Any) -> None:
    with faulty("1.3", read_timeout=30) as r:
        r.proxy.add_fault(Fault.stall(seconds=3))
        with (
            r.client.transport.settings(timeout=0.3),
            pytest.raises(requests.exceptions.ReadTimeout) as info,
        ):
            r.service.GetBalance(account="1")
        assert info.value.report["error.type"] == "timeout.read"  # type: ignore[attr-defined]
