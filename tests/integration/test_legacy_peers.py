"""Old peers under OpenSSL 3, against real servers started here: each refusal is named
exactly, tried once, hinted with the one switch that fixes it, and the switch works.

* ``gnutls-serv`` with ``%DISABLE_SAFE_RENEGOTIATION``: a peer without RFC 5746;
* a Python ``ssl`` ledger with only ``DHE-RSA-AES128-GCM-SHA256`` and a 1024-bit group;
* ``openssl s_server`` offering only NULL suites, and one asking to renegotiate
  mid-connection (its ``R`` command: a client-certificate request, as IIS sends).

Every refusal has a positive control against the same kind of server.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

import soapguard
from faulty import BINDING
from servers.tls_peers import GNUTLS_SERV, OPENSSL, GnutlsServer, SServer
from soapguard import Config
from soapguard.cli import main
from soapguard.testing.ledger import LedgerServer, soap, wsdl_dir
from soapguard.testing.ledger.http import server_context
from soapguard.tls import context as tls
from soapguard.tls import profiles

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning"),
]
NEEDS_GNUTLS = pytest.mark.skipif(
    GNUTLS_SERV is None, reason="needs gnutls-serv (Debian package gnutls-bin)"
)
NEEDS_OPENSSL = pytest.mark.skipif(
    OPENSSL is None, reason="needs the openssl command (apt openssl)"
)
NO_SAFE_RENEGOTIATION = "NORMAL:-VERS-TLS1.3:%DISABLE_SAFE_RENEGOTIATION"
RETRY_EVERYTHING = {"max_attempts": 5, "idempotent_operations": ("*",)}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    tls.clear_cache()
    yield
    tls.clear_cache()


def ledger_service(url: str, config: Config) -> Any:
    """GetBalance's service on ``url``; the WSDL comes from disk, so the only handshake is
    the call's own."""
    client = soapguard.Client(str(wsdl_dir() / "ledger.wsdl"), config=config)
    return client.create_service(BINDING, url)


def failed_call(url: str, config: Config) -> dict[str, Any]:
    """The ``.report`` of a GetBalance that must fail."""
    with pytest.raises(requests.exceptions.RequestException) as info:
        ledger_service(url, config).GetBalance(account="1")
    report: dict[str, Any] = info.value.report  # type: ignore[attr-defined]
    return report


def probe(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["probe", url, "--json", "--timeout", "10", *args])
    return code, json.loads(capsys.readouterr().out)


def lines(report: dict[str, Any]) -> list[str]:
    return [rec["line"] for rec in report["recommendations"]]


def handshake(config: Config, port: int) -> tuple[str | None, str | None]:
    """(version, cipher) of one handshake with soapguard's context for ``config``."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with tls.context_for(config).wrap_socket(raw, server_hostname="localhost") as sock:
        cipher = sock.cipher()
        return sock.version(), cipher[0] if cipher else None


# -- a peer without RFC 5746 secure renegotiation (GnuTLS) --------------------------------------


@pytest.fixture(scope="module")
def balance_body(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What gnutls-serv answers every GET with: a GetBalance response."""
    path = tmp_path_factory.mktemp("gnutls") / "balance.xml"
    payload = soap._get_balance({"account": "1"})
    path.write_bytes(soap.envelope("http://schemas.xmlsoap.org/soap/envelope/", payload))
    return str(path)


@pytest.fixture
def no_ri_peer(cert_files: tuple[str, str], balance_body: str) -> Iterator[GnutlsServer]:
    with GnutlsServer(cert_files, NO_SAFE_RENEGOTIATION, balance_body) as server:
        yield server


@NEEDS_GNUTLS
def test_peer_without_secure_renegotiation_is_named_tried_once_and_hinted(
    no_ri_peer: GnutlsServer, ca_file: str
) -> None:
    url = f"https://127.0.0.1:{no_ri_peer.port}/ledger"
    report = failed_call(url, Config(ca_bundle=ca_file, **RETRY_EVERYTHING))
    assert report["error.type"] == "tls.legacy_renegotiation"
    assert report["openssl.reason"] == "UNSAFE_LEGACY_RENEGOTIATION_DISABLED"
    assert len(report["attempts"]) == 1
    assert report["decision_reason"] == "non_retryable"
    assert report["request_sent"] == "none"
    assert report["tls.security_level"] == tls.security_level(Config())
    hint = report["hint"]
    assert "SOAPGUARD_TLS_LEGACY_RENEGOTIATION=true" in hint
    assert "CVE-2009-3555" in hint
    assert "SOAPGUARD_MAX_ATTEMPTS" not in hint


@NEEDS_GNUTLS
def test_with_the_switch_the_handshake_succeeds_and_soapguard_still_refuses_to_renegotiate(
    no_ri_peer: GnutlsServer, ca_file: str
) -> None:
    config = Config(ca_bundle=ca_file, tls_legacy_renegotiation=True)
    version, cipher = handshake(config, no_ri_peer.port)
    assert version == "TLSv1.2"
    assert cipher is not None
    assert cipher.startswith("ECDHE-")
    assert tls.context_for(config).options & ssl.OP_NO_RENEGOTIATION
    # through the client: past TLS, the request was sent (gnutls-serv cannot answer a POST)
    report = failed_call(f"https://127.0.0.1:{no_ri_peer.port}/ledger", config)
    assert not report["error.type"].startswith("tls.")
    assert report["request_sent"] == "full"
    assert report["tls.protocol.version"] == "1.2"


@NEEDS_GNUTLS
def test_control_the_same_gnutls_server_with_safe_renegotiation_needs_no_switch(
    cert_files: tuple[str, str], balance_body: str, ca_file: str
) -> None:
    with GnutlsServer(cert_files, "NORMAL:-VERS-TLS1.3", balance_body) as server:
        version, _ = handshake(Config(ca_bundle=ca_file), server.port)
    assert version == "TLSv1.2"


@NEEDS_GNUTLS
def test_probe_detects_the_peer_and_recommends_the_switch_verified(
    no_ri_peer: GnutlsServer,
    ca_file: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"https://127.0.0.1:{no_ri_peer.port}/ledger?wsdl"
    code, report = probe(capsys, url, "--ca-bundle", ca_file)
    assert code == 1
    current = report["handshakes"][0]
    assert current["error"]["error.type"] == "tls.legacy_renegotiation"
    assert report["legacy_peer"]["secure_renegotiation"] is False
    assert lines(report) == ["SOAPGUARD_TLS_LEGACY_RENEGOTIATION=true"]
    rec = report["recommendations"][0]
    assert rec["verified"] is True
    assert "CVE-2009-3555" in rec["reason"]
    check = report["recommendation_check"]
    assert check["ok"] is True
    assert check["tls_version"] == "1.2"
    widened = next(r for r in report["handshakes"] if r["name"] == "intermediate")
    assert widened["ok"] is True
    assert widened["needed"][0]["refused"] == "tls.legacy_renegotiation"
    # with the switch set, the current settings work; the trade-off stays visible
    monkeypatch.setenv("SOAPGUARD_TLS_LEGACY_RENEGOTIATION", "true")
    code, report = probe(capsys, url, "--ca-bundle", ca_file)
    assert code == 0, report["problems"]
    assert report["recommendations"] == []
    assert any("CVE-2009-3555" in note for note in report["notes"])


# -- a 1024-bit DHE group (Python ssl server) ----------------------------------------------------


@pytest.fixture(scope="session")
def dh1024(tmp_path_factory: pytest.TempPathFactory) -> str:
    """1024-bit DH parameters, made once per test session (``openssl dhparam``)."""
    if OPENSSL is None:
        pytest.skip("needs the openssl command (apt openssl) to make DH parameters")
    path = tmp_path_factory.mktemp("dh") / "dh1024.pem"
    subprocess.run(
        [OPENSSL, "dhparam", "-out", str(path), "1024"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return str(path)


@pytest.fixture
def dh_ledger(
    make_ledger: Callable[..., LedgerServer], cert_files: tuple[str, str], dh1024: str
) -> Callable[[str], LedgerServer]:
    """A TLS 1.2 ledger with only ``ciphers`` and the 1024-bit group (RSA certificate)."""

    def make(ciphers: str) -> LedgerServer:
        ctx = server_context(*cert_files, maximum_version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers(f"@SECLEVEL=0:{ciphers}")  # before the group: level 2 refuses it
        ctx.load_dh_params(dh1024)
        return make_ledger(ssl_context=ctx)

    return make


DHE_ONLY = "DHE-RSA-AES128-GCM-SHA256"


def test_default_profile_meets_no_shared_cipher_and_is_pointed_at_the_probe(
    dh_ledger: Callable[[str], LedgerServer], ca_file: str
) -> None:
    report = failed_call(dh_ledger(DHE_ONLY).url, Config(ca_bundle=ca_file, **RETRY_EVERYTHING))
    assert report["error.type"] == "tls.no_shared_cipher"
    assert len(report["attempts"]) == 1
    assert "soapguard probe" in report["hint"]


def test_legacy_meets_the_small_group_named_once_with_the_level_variable(
    dh_ledger: Callable[[str], LedgerServer], ca_file: str
) -> None:
    config = Config(ca_bundle=ca_file, tls_profile="legacy", **RETRY_EVERYTHING)
    report = failed_call(dh_ledger(DHE_ONLY).url, config)
    assert report["error.type"] == "tls.dh_key_too_small"
    assert report["openssl.reason"] == "DH_KEY_TOO_SMALL"
    assert len(report["attempts"]) == 1
    assert report["decision_reason"] == "non_retryable"
    assert report["tls.security_level"] == 2
    assert "SOAPGUARD_TLS_SECURITY_LEVEL=1" in report["hint"]


def test_legacy_with_level_1_makes_the_call(
    dh_ledger: Callable[[str], LedgerServer], ca_file: str
) -> None:
    config = Config(ca_bundle=ca_file, tls_profile="legacy", tls_security_level=1)
    result = ledger_service(dh_ledger(DHE_ONLY).url, config).GetBalance(account="1")
    assert result.account == "1"


def test_level_1_without_legacy_is_a_config_error_naming_both(ca_file: str) -> None:
    with pytest.raises(soapguard.ConfigError) as info:
        Config(ca_bundle=ca_file, tls_security_level=1)
    text = str(info.value)
    assert "SOAPGUARD_TLS_SECURITY_LEVEL" in text
    assert "SOAPGUARD_TLS_PROFILE" in text


def test_level_0_for_tls_10_is_explicit_and_applies_to_tls_12_connections_too(
    dh_ledger: Callable[[str], LedgerServer], ca_file: str
) -> None:
    with pytest.raises(soapguard.ConfigError, match="SOAPGUARD_TLS_SECURITY_LEVEL"):
        Config(ca_bundle=ca_file, tls_profile="legacy", tls_min_version="1.0")
    config = Config(
        ca_bundle=ca_file, tls_profile="legacy", tls_min_version="1.0", tls_security_level=0
    )
    result = ledger_service(dh_ledger(DHE_ONLY).url, config).GetBalance(account="1")
    assert result.account == "1"  # documented: level 0 accepts the 1024-bit group on TLS 1.2


def test_probe_recommends_legacy_and_level_1_for_a_dhe_only_peer_verified(
    dh_ledger: Callable[[str], LedgerServer], ca_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = probe(capsys, dh_ledger(DHE_ONLY).url + "?wsdl", "--ca-bundle", ca_file)
    assert code == 1
    assert report["handshakes"][0]["error"]["error.type"] == "tls.no_shared_cipher"
    dh = report["legacy_peer"]["dh"]
    assert dh["small_group"] is True
    assert dh["without_dhe"]["ok"] is False
    assert lines(report) == ["SOAPGUARD_TLS_PROFILE=legacy", "SOAPGUARD_TLS_SECURITY_LEVEL=1"]
    assert all(rec["verified"] for rec in report["recommendations"])
    assert report["recommendation_check"]["cipher"] == DHE_ONLY


def test_probe_prefers_a_suite_without_dhe_where_the_peer_has_one(
    dh_ledger: Callable[[str], LedgerServer], ca_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server = dh_ledger(f"{DHE_ONLY}:AES128-SHA")
    # the control: with the DHE suite preferred, plain legacy meets the small group
    report = failed_call(server.url, Config(ca_bundle=ca_file, tls_profile="legacy"))
    assert report["error.type"] == "tls.dh_key_too_small"
    code, report = probe(capsys, server.url + "?wsdl", "--ca-bundle", ca_file)
    assert code == 1  # the current (default) settings cannot connect
    assert f"SOAPGUARD_CIPHERS={profiles.LEGACY_WITHOUT_DHE}" in lines(report)
    assert not [line for line in lines(report) if "SECURITY_LEVEL" in line]
    assert report["recommendation_check"] == {
        "lines": lines(report), "ok": True, "tls_version": "1.2", "cipher": "AES128-SHA",
        "error": None,
    }  # fmt: skip
    # and the recommended lines do make the call
    config = Config(ca_bundle=ca_file, tls_profile="legacy", ciphers=profiles.LEGACY_WITHOUT_DHE)
    assert ledger_service(server.url, config).GetBalance(account="1").account == "1"


def test_probe_exits_0_once_its_advice_is_applied_and_notes_the_default_profile(
    dh_ledger: Callable[[str], LedgerServer],
    ca_file: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The settings in effect reach the old peer; that the default profile does not is a
    note, not a problem: exit 0, and nothing already set is recommended again."""
    url = dh_ledger(DHE_ONLY).url + "?wsdl"
    code, report = probe(capsys, url, "--ca-bundle", ca_file)
    assert code == 1  # the advice: legacy and level 1
    assert lines(report) == ["SOAPGUARD_TLS_PROFILE=legacy", "SOAPGUARD_TLS_SECURITY_LEVEL=1"]
    monkeypatch.setenv("SOAPGUARD_TLS_PROFILE", "legacy")
    monkeypatch.setenv("SOAPGUARD_TLS_SECURITY_LEVEL", "1")
    code, report = probe(capsys, url, "--ca-bundle", ca_file)
    assert code == 0, report["problems"]
    assert report["handshakes"][0]["ok"] is True
    assert report["problems"] == []
    assert report["recommendations"] == []
    note = next(n for n in report["notes"] if "intermediate" in n)
    assert "tls.no_shared_cipher" in note
    assert "SOAPGUARD_TLS_PROFILE=legacy" in note  # what keeps it working, from the environment
    assert main(["probe", url, "--ca-bundle", ca_file, "--timeout", "10"]) == 0
    out = capsys.readouterr().out
    assert "PROBLEM" not in out
    assert "No changes recommended." in out


# -- never offered, whatever the switches ---------------------------------------------------------

EVERY_LEGACY_SWITCH = {
    "SOAPGUARD_TLS_PROFILE": "legacy",
    "SOAPGUARD_TLS_MIN_VERSION": "1.0",
    "SOAPGUARD_TLS_SECURITY_LEVEL": "0",
    "SOAPGUARD_TLS_LEGACY_RENEGOTIATION": "true",
    "SOAPGUARD_CIPHERS": "ALL:eNULL",
}


@NEEDS_OPENSSL
def test_every_switch_on_and_all_enull_still_never_reaches_a_null_only_peer(
    cert_files: tuple[str, str], ca_file: str
) -> None:
    config = Config.from_env({**EVERY_LEGACY_SWITCH, "SOAPGUARD_CA_BUNDLE": ca_file})
    null_only = ("-cipher", "NULL-SHA256:NULL-SHA:@SECLEVEL=0", "-no_tls1_3")
    with SServer(cert_files, *null_only) as server:
        report = failed_call(f"https://127.0.0.1:{server.port}/ledger", config)
        # the control: a client that does enable NULL reaches this very server
        plain = ssl.create_default_context(cafile=ca_file)
        plain.maximum_version = ssl.TLSVersion.TLSv1_2
        plain.set_ciphers("NULL-SHA256:@SECLEVEL=0")
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with plain.wrap_socket(raw, server_hostname="localhost") as sock:
            assert sock.cipher()[0] == "NULL-SHA256"  # type: ignore[index]
    assert report["error.type"] in ("tls.no_shared_cipher", "tls.handshake_failure")
    assert report["request_sent"] == "none"
    assert len(report["attempts"]) == 1


@NEEDS_OPENSSL
def test_control_every_switch_on_reaches_a_tls10_cbc_peer_and_still_checks_its_name(
    cert_files: tuple[str, str], ca_file: str
) -> None:
    config = Config.from_env({**EVERY_LEGACY_SWITCH, "SOAPGUARD_CA_BUNDLE": ca_file})
    with SServer(cert_files, "-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0") as server:
        assert handshake(config, server.port) == ("TLSv1", "AES128-SHA")
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            tls.context_for(config).wrap_socket(raw, server_hostname="other.example")
        raw.close()


# -- a server that asks to renegotiate mid-connection -------------------------------------------


@NEEDS_OPENSSL
def test_a_server_renegotiating_mid_call_is_refused_named_and_not_retried(
    cert_files: tuple[str, str], ca_file: str
) -> None:
    with SServer(cert_files, "-tls1_2") as server:
        server.renegotiate_after("POST /ledger")
        config = Config(ca_bundle=ca_file, read_timeout=30, **RETRY_EVERYTHING)
        report = failed_call(f"https://127.0.0.1:{server.port}/ledger", config)
    assert report["error.type"] == "tls.renegotiation_refused"
    assert report["tls.alert_out"] == "warning:no_renegotiation"
    assert report["request_sent"] == "full"
    assert report["outcome"] == "unknown"
    assert len(report["attempts"]) == 1  # idempotent, yet deterministic: not retried
    assert "never renegotiates" in report["hint"]


@NEEDS_OPENSSL
def test_probe_reports_a_server_that_asks_to_renegotiate(
    cert_files: tuple[str, str], ca_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with SServer(cert_files, "-tls1_2") as server:
        server.renegotiate_after("GET /ledger")
        url = f"https://127.0.0.1:{server.port}/ledger?wsdl"
        code, report = probe(capsys, url, "--ca-bundle", ca_file)
    assert code == 1
    assert report["legacy_peer"]["server_renegotiation"] == "requested"
    assert report["record_size"]["uncapped"]["alert_out"] == [1, 100]
    assert any("renegotiate" in p for p in report["problems"])


def test_soapguard_config_shows_the_level_in_effect_and_what_the_switches_cost(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in EVERY_LEGACY_SWITCH.items():
        if name != "SOAPGUARD_CIPHERS":
            monkeypatch.setenv(name, value)
    assert main(["config", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runtime"]["tls_security_level"] == 0
    notes = " ".join(doc["notes"])
    assert "CVE-2009-3555" in notes
    assert "SOAPGUARD_TLS_SECURITY_LEVEL=0" in notes
    assert main(["config"]) == 0
    assert "security level in effect: 0" in capsys.readouterr().out
